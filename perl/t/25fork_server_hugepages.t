# A fork-server base collapses its preloaded heap into huge pages before it
# serves (fork-server-hugepages, on by default), so that every adoption's
# fork copies a few page-table entries per 2 MiB instead of 512: the base
# says so in its log, /proc shows the huge pages in the base and shared into
# an adopted vassal, and the vassal serves. With the option off, nothing is
# collapsed.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;

Vassal::XS::set_child_subreaper(1);

sub anon_huge_kib {
    my ($pid) = @_;
    my ($kib) = slurp("/proc/$pid/smaps_rollup") =~ /^AnonHugePages:\s+(\d+) kB/m;
    return $kib // 0;
}

sub start_big_base {
    my (@extra) = @_;
    my $dir = tempdir();
    my $ini = write_file("$dir/base.ini", "[uwsgi]\nearly-psgi = " . test_app('big.psgi') . "\n"
        . "fork-server = %dfork.sock\n" . join('', map { "$_\n" } @extra));
    my ($e, $v) = emperor_pair();
    my $log = "$dir/base.log";
    my $pid = spawn_vassal(args => ['--ini', $ini], emperor => $v, stderr => $log);
    close $v;
    expect_bytes($e, [1, 17], 30, 'the base is ready and loyal');
    return ($pid, $e, "$dir/fork.sock", $log, $dir);
}

subtest 'default: the preloaded heap is in huge pages, shared with adopted vassals' => sub {
    my ($base, $emperor, $sock, $log, $dir) = start_big_base();
    my $said = slurp($log);
    if ($said =~ /^\[base pid $base\] preloaded heap in huge pages: ([0-9.]+) MiB in (\d+) region\(s\), \d+ ms/m) {
        cmp_ok $1, '>=', 60, "the log says how much was collapsed ($1 MiB in $2 region(s))";
        cmp_ok anon_huge_kib($base), '>=', 60 * 1024, 'the base maps it in huge pages (AnonHugePages)';
    }
    else {
        # a kernel without MADV_COLLAPSE (before 6.1) or with THP off: named, and no harm done
        like $said, qr/^\[base pid $base\] preloaded heap stays in 4 KiB pages \(madvise MADV_COLLAPSE: .+\); adoptions fork slower$/m,
            'the log names why the heap stays in 4 KiB pages';
    }

    my $port = empty_port();
    my $ini = write_file("$dir/app.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\n");
    my ($e1, $v1) = emperor_pair();
    my ($vassal, $err) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $ini], [fileno $v1]);
    close $v1;
    ok $vassal, 'adopted' or diag $err, slurp($log);
    expect_bytes($e1, [1, 5], 15, 'ready and accepting');
    my $res = http_get($port, '/');
    is $res->{status}, 200, 'the adopted vassal serves';
    like $res->{content}, qr/\Abig app \d+ 67108864\n\z/, 'from the preloaded data';
    if (anon_huge_kib($base)) {
        cmp_ok anon_huge_kib($vassal), '>=', 60 * 1024, 'the vassal maps the same huge pages';
    }
    close $e1;
    wait_gone(10, $vassal);
    close $emperor;
    wait_gone(10, $base);
};

subtest 'fork-server-hugepages = false leaves the heap alone' => sub {
    my ($base, $emperor, $sock, $log) = start_big_base('fork-server-hugepages = false');
    unlike slurp($log), qr/huge pages|4 KiB pages/, 'nothing about huge pages in the log';
    my $thp = -r '/sys/kernel/mm/transparent_hugepage/enabled' ? slurp('/sys/kernel/mm/transparent_hugepage/enabled') : '';
    if ($thp =~ /\[(?:madvise|never)\]/) {
        is anon_huge_kib($base), 0, 'and no huge pages in the base (THP is madvise-only here)';
    }
    close $emperor;
    wait_gone(10, $base);
};

done_testing;
