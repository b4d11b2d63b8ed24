# Process names: procname names the master, workers get it with
# " (worker N)"; without it the master keeps its command line.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

sub cmdline { (my $c = slurp("/proc/$_[0]/cmdline")) =~ s/\0+\z//; $c =~ s/\0/ /g; $c }

my $v = start_vassal(args => ['--processes', 2, '--procname', 'app1 master']);
is cmdline($v->{pid}), 'app1 master', 'the master is named procname';
my @w = sort map { cmdline($_) } children_of($v->{pid});
is_deeply \@w, ['app1 master (worker 1)', 'app1 master (worker 2)'], 'the workers are marked';
ok stop_vassal($v), 'stops';

my $dir = tempdir();
my $ini = write_file("$dir/app9.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:" . empty_port() . "\npsgi = " . test_app('test.psgi') . "\n");
my $p = start_vassal(dir => $dir, args => ['--ini', $ini], no_http => 1);
like cmdline($p->{pid}), qr{psgi-vassal --ini \Q$ini\E\z}, 'without procname: psgi-vassal --ini FILE';
like cmdline((children_of($p->{pid}))[0]), qr{psgi-vassal --ini \Q$ini\E \(worker 1\)\z}, 'its worker marked';
ok stop_vassal($p), 'stops';

done_testing;
