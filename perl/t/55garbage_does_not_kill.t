# No input kills a worker: random bytes, random cuts of valid requests and
# random uwsgi packets, sent whole or a few bytes at a time, leave the same
# workers serving.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

my $uport = empty_port();
my $v = start_vassal(args => ['--processes', 2, '--socket', "127.0.0.1:$uport", '--socket-timeout', 1,
                              '--buffer-size', 4096]);
my @workers = sort { $a <=> $b } children_of($v->{pid});
is scalar @workers, 2, 'two workers';

srand($ENV{VASSAL_FUZZ_SEED} // 20240601);
my @valid = (
    "GET /env?a=1 HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HEAD /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
);
sub random_bytes { join '', map { chr int rand 256 } 1 .. $_[0] }
sub mutate {
    my ($s) = @_;
    for (1 .. 1 + int rand 4) {
        my $pos = int rand length $s;
        my $op = int rand 3;
        if    ($op == 0) { substr($s, $pos, 1, chr int rand 256) }
        elsif ($op == 1) { substr($s, $pos, 1, '') }
        else             { substr($s, $pos, 0, random_bytes(1 + int rand 8)) }
    }
    return $s;
}

my $sent = 0;
my $rounds = $ENV{VASSAL_FUZZ_ROUNDS} || 150;    # more for a sanitizer build
for my $i (1 .. $rounds) {
    my $kind = $i % 5;
    my ($port, $data);
    if ($kind == 0)    { ($port, $data) = ($v->{port}, random_bytes(1 + int rand 3000)) }
    elsif ($kind <= 2) { ($port, $data) = ($v->{port}, mutate($valid[int rand @valid])) }
    elsif ($kind == 3) { ($port, $data) = ($v->{port}, $valid[int rand @valid] x (1 + int rand 3) . mutate($valid[0])) }
    else {
        my @vars = map { (random_bytes(int rand 12), random_bytes(int rand 30)) } 1 .. int rand 6;
        $data = eval { uwsgi_packet(\@vars, modifier1 => (0, 5, int rand 256)[int rand 3]) } // random_bytes(40);
        $data = mutate($data) if rand() < 0.5;
        $port = $uport;
    }
    my $c = eval { http_connect($port) } or next;
    if (rand() < 0.3) {
        # a few bytes at a time
        my $off = 0;
        while ($off < length $data) {
            my $n = 1 + int rand 7;
            syswrite $c, substr($data, $off, $n);
            $off += $n;
        }
    }
    else {
        syswrite $c, $data;
    }
    shutdown($c, 1) if rand() < 0.5;
    $sent++;
    # read whatever comes, without waiting for the socket-timeout every time
    my $rin = '';
    vec($rin, fileno $c, 1) = 1;
    select(my $rout = $rin, undef, undef, 0.05);
    close $c;
}
ok $sent > $rounds * 2 / 3, "$sent inputs sent";
sleep 0.5;
is_deeply [sort { $a <=> $b } children_of($v->{pid})], \@workers, 'the same two workers are alive';
unlike slurp($v->{log}), qr/died unexpectedly/, 'no worker died';
for (1 .. 4) {
    is http_get($v->{port}, '/')->{status}, 200, 'they serve';
}
ok stop_vassal($v), 'stops';

done_testing;
