# Catalyst sample app ("the slow-loading kind").
#
#   GET  /            text/plain "Hello from Catalyst (pid N)"
#   GET  /echo?msg=X  text/plain "X" (the query parameter, echoed)
#   GET  /json        JSON {"app":"catalyst","pid":N,"params":{...}}
#   POST /echo        JSON {"method":"POST","params":{...},"body_length":N}
#                     (echo of the urlencoded/multipart body parameters)
#
# Paths are derived from this file, never from cwd or FindBin.
use strict;
use warnings;
use File::Basename ();
use File::Spec ();

my $DIR;
BEGIN { $DIR = File::Basename::dirname(File::Spec->rel2abs(__FILE__)) }
use lib "$DIR/lib";

BEGIN { $CatApp::HOME = $DIR }
use CatApp;

CatApp->apply_default_middlewares(CatApp->psgi_app);
