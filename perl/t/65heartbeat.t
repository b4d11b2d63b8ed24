# heartbeat: byte 26 to the Emperor every N seconds.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1, '--heartbeat', 1]);
my @got = read_bytes($v->{emperor}, 3, 15);
is_deeply \@got, [26, 26, 26], 'heartbeats keep coming';
is http_get($v->{port}, '/')->{status}, 200, 'serves';
my @more;
push @more, read_bytes($v->{emperor}, 1, 5) for 1 .. 3;
ok +(grep { $_ == 17 } @more), 'loyal among them after a request';
ok +(grep { $_ == 26 } @more), 'and heartbeats';
ok stop_vassal($v), 'stops';

my $quiet = start_vassal(args => ['--processes', 1]);
ok no_byte_within($quiet->{emperor}, 1.5), 'no heartbeat unless asked for';
ok stop_vassal($quiet), 'stops';

done_testing;
