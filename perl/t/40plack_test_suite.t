# Plack's own server conformance suite against Plack::Handler::Vassal.
use strict;
use warnings;
use Test::More;
use Plack::Test::Suite;

$SIG{PIPE} = 'IGNORE';
Plack::Test::Suite->run_server_tests('Vassal', undef, undef, workers => 1);
done_testing;
