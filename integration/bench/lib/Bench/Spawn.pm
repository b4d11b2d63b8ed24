package Bench::Spawn;
# Measurements 1 and 2: N vassals of heavy.psgi dropped into the Emperor's
# directory at once (rename from a staging dir), adopted or cold: files ->
# every vassal answering 200, per vassal file -> its first 200, where the time
# went (from the Emperor's log); then the total PSS of the vassal processes,
# idle and after R keep-alive requests to each vassal.
use strict;
use warnings;
use POSIX ();
use Time::HiRes ();
use BenchKit qw(now progress descendants pss_total start_emperor stop_emperor wait_for
                wait_http_200 hammer log_lines median percentile fmt_ms fmt_s fmt_mib free_ports write_file);
use Bench::Rig qw(wait_up wait_base_ready emperor_stats);

sub run {
    my ($c, $mode, $n) = @_;
    my $d = $c->workdir("spawn-$mode-$n");
    my $fork_socket = $mode eq 'adopted' ? "$d/fork.sock" : undef;
    my @ports = free_ports($n);
    if ($fork_socket) {
        write_file("$d/vassals/base.ini",
                   "[uwsgi]\nearly-psgi = $c->{heavy}\nfork-server = $fork_socket\n");
    }
    my @names;
    for my $i (1 .. $n) {
        my $name = sprintf 'v%03d.ini', $i;
        push @names, $name;
        write_file("$d/staging/$name", "[uwsgi]\n"
            . ($mode eq 'cold' ? "psgi = $c->{heavy}\n" : '')
            . "http-socket = 127.0.0.1:$ports[$i - 1]\nprocesses = 1\nmaster = true\n");
    }
    progress("spawn $mode N=$n: starting the Emperor", $fork_socket ? ' and its heavy base vassal' : '');
    my $e = start_emperor(jar => $c->{jar}, log => "$c->{out}/logs/spawn-$mode-$n.log", mercy => $c->{mercy},
                          args => [$c->emperor_args(dir => "$d/vassals", fork_socket => $fork_socket, stats => "$d/stats.sock")]);
    my $r = { mode => $mode, n => $n };
    my $ok = eval {
        wait_up($e);
        wait_base_ready($e, $fork_socket, 120) if $fork_socket;
        Time::HiRes::sleep(1);    # let the JVM (and the base) settle
        my (%t_file, $t0);
        $t0 = now();
        my %wall_file;    # the same instants on the wall clock, to line up with the Emperor's log
        for my $i (0 .. $#names) {
            rename "$d/staging/$names[$i]", "$d/vassals/$names[$i]" or die "rename $names[$i]: $!\n";
            $t_file{ $ports[$i] } = now();
            $wall_file{ $names[$i] } = Time::HiRes::time();
        }
        progress("spawn $mode N=$n: $n file(s) dropped; waiting for every vassal to answer 200");
        my $got = wait_http_200(
            ports => \@ports, interval => $n > 10 ? 0.01 : 0.005,
            timeout => $mode eq 'cold' ? 120 + 10 * $n : 120,
            on_tick => sub { progress("spawn $mode N=$n: $_[0]/$_[1] serving after ", sprintf('%.1f', now() - $t0), ' s') });
        my @lat = map { $got->{$_} - $t_file{$_} } grep { $got->{$_} } @ports;
        $r->{serving} = scalar @lat;
        $r->{per_vassal} = [map { $got->{$_} ? $got->{$_} - $t_file{$_} : undef } @ports];
        die sprintf("only %d of %d vassals answered 200 in time\n", scalar @lat, $n) if @lat < $n;
        $r->{all_serving} = (sort { $b <=> $a } values %$got)[0] - $t0;
        $r->{median} = median(@lat);
        $r->{p99} = percentile(99, @lat);
        $r->{min} = (sort { $a <=> $b } @lat)[0];
        $r->{max} = (sort { $b <=> $a } @lat)[0];
        progress(sprintf 'spawn %s N=%d: all serving after %s s; file -> first 200 median %s ms, p99 %s ms',
                 $mode, $n, fmt_s($r->{all_serving}), fmt_ms($r->{median}), fmt_ms($r->{p99}));
        # the Emperor's own view: were they really adopted (or really spawned)?
        if (my $st = emperor_stats("$d/stats.sock")) {
            my @v = grep { $_->{id} ne 'base.ini' } @{ $st->{vassals} || [] };
            $r->{stats_adopted} = grep { $_->{adopted} } @v;
            my $want = $mode eq 'adopted' ? $n : 0;
            die "the Emperor's stats list $r->{stats_adopted} adopted vassal(s) of " . scalar(@v) . ", expected $want\n"
                if $r->{stats_adopted} != $want || @v != $n;
        }

        # 2: memory, idle after spawn, then after R requests to each vassal
        Time::HiRes::sleep(2);
        # (the log is read now: the Emperor may log "accepting" after the first 200)
        $r->{stages} = stages_from_log($e->{log}, \%wall_file,
            { map { $names[$_] => $wall_file{ $names[$_] } + ($got->{ $ports[$_] } - $t_file{ $ports[$_] }) } 0 .. $#names });
        @$r{qw(pss_idle_kb procs_idle)} = pss_total(descendants($e->{pid}));
        progress(sprintf 'memory %s N=%d: idle PSS %s MiB over %d processes; sending %d requests to each vassal',
                 $mode, $n, fmt_mib($r->{pss_idle_kb}), $r->{procs_idle}, $c->{requests});
        my $h = hammer(ports => \@ports, count => $c->{requests}, timeout => 120 + $n * $c->{requests} / 200,
                       on_tick => sub { progress("memory $mode N=$n: $_[0]/$_[1] requests") });
        $r->{load} = $h;
        die "load: $h->{errors} error(s), complete=$h->{complete}\n" if $h->{errors} || !$h->{complete};
        Time::HiRes::sleep(1);
        @$r{qw(pss_after_kb procs_after)} = pss_total(descendants($e->{pid}));
        progress(sprintf 'memory %s N=%d: PSS after %d requests/vassal %s MiB over %d processes (%.0f req/s)',
                 $mode, $n, $c->{requests}, fmt_mib($r->{pss_after_kb}), $r->{procs_after}, $h->{ok} / $h->{seconds});
        1;
    };
    my $err = $@;
    my $stop = stop_emperor($e);
    $r->{leftovers} = $stop->{leftovers};
    die $err unless $ok;
    return $r;
}

# Where a vassal's time went, from the Emperor's log (best effort: millisecond
# timestamps and its wording; undef when they cannot be read): medians over
# the vassals of file -> seen by the monitor -> process running (adopted /
# spawned) -> accepting -> first 200 seen by the poller.
sub stages_from_log {
    my ($log, $wall_file, $wall_200) = @_;
    my %t;
    -r $log or return undef;
    for my $x (log_lines($log)) {
        my ($when, $rest) = @$x;
        my ($name) = $rest =~ /\b(v\d{3}\.ini)\b/ or next;
        my $stage = $rest =~ /appeared|added by/ ? 'seen' : $rest =~ /-> RUNNING/ ? 'running'
                  : $rest =~ /-> ACCEPTING/ ? 'accepting' : next;
        $t{$name}{$stage} //= $when;
    }
    my %d;
    for my $name (keys %$wall_file) {
        my $x = $t{$name} or return undef;
        return undef if grep { !defined $x->{$_} } qw(seen running accepting);
        push @{ $d{monitor} }, $x->{seen} - $wall_file->{$name};
        push @{ $d{start} }, $x->{running} - $x->{seen};
        push @{ $d{ready} }, $x->{accepting} - $x->{running};
        push @{ $d{first} }, $wall_200->{$name} - $x->{accepting};
    }
    return { map { $_ => median(@{ $d{$_} }) } keys %d };
}

1;
