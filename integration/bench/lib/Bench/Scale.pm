package Bench::Scale;
# Measurement 4: the Emperor at scale. ondemand: N on-demand registrations at
# boot (time to all sockets listening, JVM threads and RSS, one request
# through one of them); idle: N adopted hello.psgi vassals (JVM threads, RSS,
# CPU% over an idle window).
use strict;
use warnings;
use File::Path qw(make_path);
use POSIX ();
use Time::HiRes ();
use BenchKit qw(now progress descendants pss_total jvm_status cpu_ticks clk_tck free_ports listening_unix_under
                start_emperor stop_emperor wait_for wait_http_200 http_get_unix fmt_s fmt_mib write_file);
use Bench::Rig qw(wait_base_ready emperor_stats);

sub ondemand {
    my ($c) = @_;
    my $d = $c->workdir('ondemand');
    my $od = "$d/od";
    make_path($od);
    # uWSGI's --emperor-on-demand-extension: app.ini is on demand when app.ini.socket
    # names its socket; base.ini has none, so it starts at once and runs the fork
    # server the on-demand vassals are adopted from when their first connection comes.
    my $fork_socket = "$d/fork.sock";
    write_file("$d/vassals/base.ini", "[uwsgi]\nearly-psgi = $c->{hello}\nfork-server = $fork_socket\n");
    for my $i (1 .. $c->{ondemand}) {
        my $name = sprintf 'od%04d', $i;
        write_file("$d/vassals/$name.ini", "[uwsgi]\nprocesses = 1\nmaster = true\n");
        write_file("$d/vassals/$name.ini.socket", "$od/$name.socket\n");
    }
    progress("scale: Emperor with a hello.psgi base and $c->{ondemand} on-demand vassal files at boot");
    my $e = start_emperor(jar => $c->{jar}, log => "$c->{out}/logs/scale-ondemand.log", mercy => $c->{mercy},
                          args => [$c->emperor_args(dir => "$d/vassals", fork_socket => $fork_socket,
                                                extra => ['--emperor-on-demand-extension', '.socket'])]);
    my $r = { n => $c->{ondemand} };
    my $ok = eval {
        my $next = now() + 1;
        my $got = wait_for(180, 0.01, sub {
            die "the Emperor exited early (see $e->{log})\n" if waitpid($e->{pid}, POSIX::WNOHANG()) == $e->{pid};
            my $listening = listening_unix_under("$od/");
            if (now() >= $next) { progress("scale on-demand: $listening/$c->{ondemand} sockets listening"); $next = now() + 1 }
            $listening >= $c->{ondemand};
        });
        $r->{listening} = listening_unix_under("$od/");
        die "only $r->{listening} of $c->{ondemand} on-demand sockets listened within 180 s\n" unless $got;
        $r->{all_listening} = now() - $e->{started};
        progress(sprintf 'scale on-demand: all %d sockets listening %s s after the Emperor started',
                 $c->{ondemand}, fmt_s($r->{all_listening}));
        Time::HiRes::sleep(1);
        my $st = jvm_status($e->{pid});
        @$r{qw(jvm_threads jvm_rss_kb)} = @$st{qw(threads rss_kb)};
        $r->{processes_spawned} = scalar descendants($e->{pid});    # the base (and its worker, if any)
        # one of them, for real: its first connection makes the Emperor adopt it
        wait_base_ready($e, $fork_socket, 60);
        Time::HiRes::sleep(0.5);
        my $sock = 'od0001.socket';
        {
            my ($code, $secs) = http_get_unix("$od/$sock", 10);
            $r->{first_request} = { socket => $sock, status => $code, seconds => $secs };
            progress(sprintf 'scale on-demand: first request through %s: %s after %s s', $sock,
                     $code // 'no answer', fmt_s($secs));
        }
        1;
    };
    my $err = $@;
    stop_emperor($e);
    die $err unless $ok;
    return $r;
}

sub idle {
    my ($c) = @_;
    my $d = $c->workdir('idle');
    my $fork_socket = "$d/fork.sock";
    my @ports = free_ports($c->{idle});
    write_file("$d/vassals/base.ini", "[uwsgi]\nearly-psgi = $c->{hello}\nfork-server = $fork_socket\n");
    for my $i (1 .. $c->{idle}) {
        write_file(sprintf('%s/vassals/idle%04d.ini', $d, $i),
                   "[uwsgi]\nhttp-socket = 127.0.0.1:$ports[$i - 1]\nprocesses = 1\nmaster = true\n");
    }
    progress("scale: Emperor with a hello.psgi base and $c->{idle} adopted vassals at boot");
    my $e = start_emperor(jar => $c->{jar}, log => "$c->{out}/logs/scale-idle.log", mercy => $c->{mercy},
                          args => [$c->emperor_args(dir => "$d/vassals", fork_socket => $fork_socket, stats => "$d/stats.sock")]);
    my $r = { n => $c->{idle} };
    my $ok = eval {
        my $got = wait_http_200(ports => \@ports, interval => 0.05, timeout => 300, max_inflight => 200,
            on_tick => sub { progress("scale idle: $_[0]/$_[1] vassals serving") });
        $r->{serving} = keys %$got;
        die "only $r->{serving} of $c->{idle} vassals answered 200 within 300 s\n" if $r->{serving} < $c->{idle};
        $r->{all_serving_from_start} = (sort { $b <=> $a } values %$got)[0] - $e->{started};
        progress(sprintf 'scale idle: all %d serving %s s after the Emperor started; settling, then %d s idle sample',
                 $c->{idle}, fmt_s($r->{all_serving_from_start}), $c->{idle_seconds});
        if (my $st = emperor_stats("$d/stats.sock")) {
            $r->{stats_adopted} = grep { $_->{adopted} } @{ $st->{vassals} || [] };
            die "the Emperor's stats list $r->{stats_adopted} adopted vassals, expected $c->{idle}\n" if $r->{stats_adopted} != $c->{idle};
        }
        Time::HiRes::sleep(5);
        my @tree = descendants($e->{pid});
        my ($j0, $v0, $t0) = (cpu_ticks($e->{pid}), cpu_ticks(@tree), now());
        Time::HiRes::sleep($c->{idle_seconds});
        my ($j1, $v1, $t1) = (cpu_ticks($e->{pid}), cpu_ticks(@tree), now());
        my $hz = clk_tck();
        $r->{idle_seconds} = $t1 - $t0;
        $r->{jvm_cpu_pct} = 100 * ($j1 - $j0) / $hz / ($t1 - $t0);
        $r->{vassals_cpu_pct} = 100 * ($v1 - $v0) / $hz / ($t1 - $t0);
        my $st = jvm_status($e->{pid});
        @$r{qw(jvm_threads jvm_rss_kb)} = @$st{qw(threads rss_kb)};
        @$r{qw(vassals_pss_kb vassal_procs)} = pss_total(descendants($e->{pid}));
        progress(sprintf 'scale idle: JVM %d threads, RSS %s MiB, CPU %.2f%% (vassals %.2f%%) over %.0f s',
                 $r->{jvm_threads}, fmt_mib($r->{jvm_rss_kb}), $r->{jvm_cpu_pct}, $r->{vassals_cpu_pct},
                 $r->{idle_seconds});
        1;
    };
    my $err = $@;
    stop_emperor($e);
    die $err unless $ok;
    return $r;
}

1;
