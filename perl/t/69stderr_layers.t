# An app that puts an encoding layer on STDERR (Catalyst does) does not stop
# the vassal from logging: log lines go to fd 2 as bytes.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(app => 'utf8_stderr.psgi', args => ['--processes', 1]);
is http_get($v->{port}, '/')->{status}, 200, 'serves';
is http_get($v->{port}, '/die')->{status}, 500, 'an app that dies with a wide character: 500';
my $log = slurp($v->{log});
like $log, qr/^\[psgi-vassal pid \d+\] loading with \xe2\x98\xba on STDERR$/m, 'its warning, UTF-8 encoded, with the prefix';
like $log, qr/^\[psgi-vassal pid \d+\] the app died: died with \xe2\x98\xba$/m, 'its error too';
like $log, qr/serving HTTP on/, 'our own lines are there';
ok stop_vassal($v), 'stops';
like slurp($v->{log}), qr/master exiting/, 'and logs to the end';

done_testing;
