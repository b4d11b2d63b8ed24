package Bench::DeployLoad;
# The deploy's helpers that run beside it, each in a child process of the
# bench: the PSS sampler and the open-loop load client.
use strict;
use warnings;
use Exporter 'import';
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use BenchKit qw(now descendants pss_total wait_for open_loop_load write_file slurp);

our @EXPORT_OK = qw(background end_child start_pss_sampler pss_sampler_pause read_pss_samples
                    start_load load_news stop_load);

sub background {
    my ($code) = @_;
    my $pid = fork // die "fork: $!\n";
    return $pid if $pid;
    $SIG{$_} = sub { POSIX::_exit(1) } for qw(INT TERM HUP);
    eval { $code->(); 1 } or print STDERR "bench child $$: $@";
    POSIX::_exit(0);
}

sub end_child {
    my ($pid, $sig, $timeout) = @_;
    kill $sig, $pid;
    my $gone = wait_for($timeout, 0.05, sub { my $w = waitpid($pid, POSIX::WNOHANG()); $w == $pid || $w < 0 });
    return 1 if $gone;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 0;
}

# Total PSS of every process below $root, every $interval s, into $file:
# "MONOTONIC_TIME KB PROCESSES SECONDS_THE_SAMPLE_TOOK STABLE" a line. Reading
# smaps_rollup costs the kernel a page-table walk (~2.5 ms for a heavy.psgi
# process, so a sample of 100 takes ~0.25 s), and a sample is no snapshot:
# a process forked or gone while it is read moves shares between processes
# read before and after (a new base read alone, its first adoptions read
# later: its heap counted ~1.4 times). STABLE = 0 marks a sample during which
# the set of processes changed. It pauses while FILE.pause exists
# (pss_sampler_pause): its page-table walks would slow the timed deploys.
sub start_pss_sampler {
    my ($root, $file, $interval) = @_;
    return background(sub {
        open my $fh, '>', $file or die "$file: $!\n";
        my $paused = 0;
        while (1) {
            if (-e "$file.pause") {
                syswrite $fh, "paused\n" unless $paused++;
                Time::HiRes::sleep(0.02);
                next;
            }
            $paused = 0;
            my $t = now();
            my @pids = sort { $a <=> $b } descendants($root);
            my ($kb, $procs) = pss_total(@pids);
            my $took = now() - $t;
            my $stable = "@pids" eq join(' ', sort { $a <=> $b } descendants($root)) ? 1 : 0;
            syswrite $fh, sprintf("%.6f %d %d %.6f %d\n", $t, $kb, $procs, $took, $stable);
            Time::HiRes::sleep($interval - $took) if $took < $interval;
        }
    });
}

# Pauses the sampler (returns once no sample is under way) or lets it go on.
sub pss_sampler_pause {
    my ($file, $pause) = @_;
    if (!$pause) { unlink "$file.pause"; return }
    write_file("$file.pause", '');
    wait_for(10, 0.02, sub { slurp($file) =~ /^paused\n\z/m }) or die "the PSS sampler did not pause\n";
}

sub read_pss_samples {
    my ($file) = @_;
    return map { [split ' '] } grep { /^\d+\.\d+ \d+ \d+ \d+\.\d+ [01]$/ } split /\n/, slurp($file);
}

# The open-loop load (BenchKit::open_loop_load) in a child: SIGUSR1 stops it;
# it reports each port's first answer with each version on a pipe, and
# everything else in a JSON file when it ends.
sub start_load {
    my (%a) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!\n";
    my $pid = background(sub {
        close $rd;
        my $stop = 0;
        $SIG{USR1} = sub { $stop = 1 };
        my $r = open_loop_load(ports => $a{ports}, rate => $a{rate}, timeout => $a{timeout},
                               max_inflight => 12000, notify => $wr, t_ref => 0, stop => sub { $stop }, duration => 1200);
        write_file($a{result}, JSON::PP->new->canonical->encode($r));
    });
    close $wr;
    return { pid => $pid, rd => $rd, result => $a{result}, timeout => $a{timeout}, buf => '', first => {} };
}

# Waits up to $wait s for news from the load; returns how many ports have
# answered with $version so far.
sub load_news {
    my ($l, $version, $wait) = @_;
    my $rin = '';
    vec($rin, fileno $l->{rd}, 1) = 1;
    if (select(my $rout = $rin, undef, undef, $wait) > 0) {
        sysread($l->{rd}, $l->{buf}, 65536, length $l->{buf}) or die "the load client ended early\n";
        $l->{first}{$2}{$1} //= $3 while $l->{buf} =~ s/^first (\d+) (\S+) (\S+)\n//;
    }
    return scalar keys %{ $l->{first}{$version} || {} };
}

sub stop_load {
    my ($l) = @_;
    end_child($l->{pid}, 'USR1', $l->{timeout} + 15) or die "the load client did not stop within "
        . ($l->{timeout} + 15) . " s\n";
    close $l->{rd};
    my $json = slurp($l->{result});
    die "the load client left no result\n" unless $json;
    return JSON::PP->new->decode($json);
}

1;
