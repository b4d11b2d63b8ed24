# Run by a fork-server base (early-perl-exec) before it serves adoptions:
# loads the modules its vassals share - here Plack::Request - and builds no
# app, so that every adopted vassal inherits them copy-on-write.
use strict;
use warnings;
require Plack::Request;
require Plack::Response;
1;
