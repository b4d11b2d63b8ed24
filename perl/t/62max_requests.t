# max-requests: a worker exits after that many requests and the master
# replaces it at once; nobody's request is lost.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

my $v = start_vassal(args => ['--processes', 1, '--max-requests', 3]);
my %pids;
my $c = http_connect($v->{port});
my @status;
for my $i (1 .. 9) {
    my $r = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    if (!$r) {    # the keep-alive connection went with the worker
        $c = http_connect($v->{port});
        $r = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    push @status, $r->{status};
    chomp(my $pid = $r->{body});
    $pids{$pid}++;
    $c = http_connect($v->{port}) if ($r->{headers}{connection} // '') eq 'close';
}
is_deeply \@status, [(200) x 9], 'every request served';
is scalar(keys %pids), 3, 'by three workers in turn';
is_deeply [sort values %pids], [3, 3, 3], 'three requests each';
like slurp($v->{log}), qr/worker 1 exiting: max-requests/, 'logged';
unlike slurp($v->{log}), qr/died unexpectedly/, 'not as an accident';
ok stop_vassal($v), 'stops';

done_testing;
