# Dancer2 sample app (Template Toolkit views).
#
#   GET  /             HTML page rendered from views/index.tt
#   GET  /hello/:name  JSON {"hello":name,"app":"dancer2","pid":...}
#   GET  /form         HTML form (views/form.tt) posting to /form
#   POST /form         HTML page echoing every submitted field (views/echo.tt)
#
# Loaded with Plack::Util::load_psgi (i.e. `do FILE`) from any cwd: all paths
# are derived from this file's location, never from cwd or FindBin.
use strict;
use warnings;
use File::Basename ();
use File::Spec ();

my $DIR;
BEGIN { $DIR = File::Basename::dirname(File::Spec->rel2abs(__FILE__)) }
use lib "$DIR/lib";

use DancerSample;

DancerSample->configure_paths($DIR);
DancerSample->to_app;
