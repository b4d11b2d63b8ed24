package Bench::Deploy;
# Measurement 5: new code to N vassals of heavy.psgi under an open-loop load:
# this Emperor (change the shared code, touch the base) vs uWSGI 2.0's
# Emperor (change the code, touch every vassal's config): failed requests,
# touch -> every vassal on the new code, peak/steady total PSS, and this
# Emperor's own view of each deploy from its log.
use strict;
use warnings;
use File::Path qw(make_path);
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use BenchKit qw(now progress free_ports start_emperor stop_emperor wait_for wait_http_200 log_lines
                median fmt_s fmt_mib write_file loadavg);
use Bench::Rig qw(emperor_stats);
use Bench::DeployLoad qw(end_child start_pss_sampler pss_sampler_pause read_pss_samples
                         start_load load_news stop_load);

# The shared code that changes: lib/Deployed.pm, whose Deployed::version every
# answer names; replaced with a rename, as a deploy tool would.
sub write_code {
    my ($d, $version) = @_;
    make_path("$d/lib");
    write_file("$d/lib/Deployed.pm.tmp", "package Deployed;\nsub version { '$version' }\n1;\n");
    rename "$d/lib/Deployed.pm.tmp", "$d/lib/Deployed.pm" or die "rename Deployed.pm: $!\n";
}

# heavy.psgi plus the shared module: every body starts with "code VERSION".
sub write_deploy_app {
    my ($c, $d) = @_;
    return write_file("$d/app.psgi", <<"PSGI");
# heavy.psgi (the large shared code base) and lib/Deployed.pm (the code a deploy
# changes): every answer starts with "code VERSION".
require '$d/lib/Deployed.pm';
my \$heavy = do '$c->{heavy}' or die "heavy.psgi: \$@\$!";
sub {
    my \$r = \$heavy->(\@_);
    my \$body = 'code ' . Deployed::version() . "\\n" . join '', \@{ \$r->[2] };
    my \@h = \@{ \$r->[1] };
    for (my \$i = 0; \$i < \@h; \$i += 2) { \$h[\$i + 1] = length \$body if lc \$h[\$i] eq 'content-length' }
    [\$r->[0], \\\@h, [\$body]];
};
PSGI
}

# A child process that runs $code and exits (never through our END block).
# This Emperor's view of its deploys, from its log (wall-clock ms): the base's
# load time at boot (spawned -> READY); for the k-th deploy, relative to its
# touch ($wall_touches->[k]): the touch seen, the new base generation serving
# the fork server (and its load time, from its spawn), the last vassal's new
# generation accepting, "deploy ... finished in X ms"; every WARN/ERROR line.
sub deploy_timeline {
    my ($log, $wall_touches) = @_;
    my (%running, %ready, @base_pids, %t, @accepting, @warn);
    for my $x (log_lines($log)) {
        my ($w, $l) = @$x;
        push @warn, $l if $l =~ /^(?:WARN|ERROR)\b/;
        if ($l =~ /vassal base\.ini \(pid (\d+), spawned\) -> (RUNNING|READY)/) {
            push @base_pids, $1 if $2 eq 'RUNNING' && !$running{$1};
            ($2 eq 'RUNNING' ? \%running : \%ready)->{$1} //= $w;
        }
        elsif ($l =~ /deploy of base\.ini: .*starting base generation/) { push @{ $t{seen} }, $w }
        elsif ($l =~ /deploy of base\.ini: generation \d+ serves/)        { push @{ $t{serves} }, $w }
        elsif ($l =~ /deploy of base\.ini finished in (\d+) ms: (.*)/)    { push @{ $t{finished} }, [$w, $1, $2] }
        elsif ($l =~ /deploy of base\.ini FAILED: (.*)/)                  { push @{ $t{failed} }, $1 }
        elsif ($l =~ /vassal v\d{3}\.ini \(pid \d+, adopted\) -> ACCEPTING/) { push @accepting, $w }
    }
    my %r = (warnings => \@warn, deploys_failed => $t{failed} || []);
    my $p1 = $base_pids[0];
    $r{base_load_s} = $ready{$p1} - $running{$p1} if $p1 && $ready{$p1};
    for my $k (0 .. $#$wall_touches) {
        my ($from, $to) = ($wall_touches->[$k], $wall_touches->[ $k + 1 ] // 9e9);
        my %d;
        my ($pid, $serves, $fin) = ($base_pids[ $k + 1 ], $t{serves}[$k], $t{finished}[$k]);
        if ($pid && $running{$pid}) {
            my ($serving) = sort { $a <=> $b } grep { defined } $ready{$pid}, $serves;
            $d{new_base_load_s} = $serving - $running{$pid} if $serving;
        }
        $d{seen_s} = $t{seen}[$k] - $from if $t{seen}[$k];
        $d{serves_s} = $serves - $from if $serves;
        @d{qw(finished_s emperor_ms summary)} = ($fin->[0] - $from, $fin->[1], $fin->[2]) if $fin;
        my @acc = grep { $_ >= $from && $_ < $to } @accepting;
        $d{last_accepting_s} = (sort { $b <=> $a } @acc)[0] - $from if @acc;
        $d{vassals_accepting} = scalar @acc;
        push @{ $r{rounds} }, \%d;
    }
    return \%r;
}

sub run {
    my ($c, $system, $n) = @_;    # psgi-vassal (this Emperor) | uwsgi (uWSGI 2.0's Emperor)
    my $psgi = $system eq 'psgi-vassal';
    # timed deploys (the PSS sampler paused: its page-table walks slow a deploy
    # of 50 vassals by most of a second, nice 19 or not), then, for this
    # Emperor, one more with the sampler running: the PSS peak
    my @plan = ((0) x ($psgi ? $c->{deploy_rounds} : 1), $psgi ? (1) : ());
    my $rounds = @plan;
    my $tag = "deploy $system N=$n";
    my $d = $c->workdir("deploy-$system-$n");
    my @ports = free_ports($n);
    write_code($d, 'v1');
    my $app = write_deploy_app($c, $d);
    my $fork_socket = $psgi ? "$d/fork.sock" : undef;
    write_file("$d/vassals/base.ini", "[uwsgi]\nearly-psgi = $app\nfork-server = $fork_socket\n") if $psgi;
    my @inis = map { sprintf '%s/vassals/v%03d.ini', $d, $_ } 1 .. $n;
    for my $i (0 .. $n - 1) {
        write_file($inis[$i], "[uwsgi]\n" . ($psgi ? '' : "plugins = psgi\npsgi = $app\ndisable-logging = true\n")
            . "http-socket = 127.0.0.1:$ports[$i]\nprocesses = 1\nmaster = true\n");
    }
    my $log = "$c->{out}/logs/deploy-$system-$n.log";
    my $e = $psgi
        ? start_emperor(jar => $c->{jar}, log => $log, mercy => $c->{mercy},
                        args => [$c->emperor_args(dir => "$d/vassals", fork_socket => $fork_socket, stats => "$d/stats.sock",
                            extra => [$c->{deploy_batch} ? ('--emperor-deploy-batch', $c->{deploy_batch}) : ()])])
        : start_emperor(cmd => ['uwsgi', '--emperor', "$d/vassals"], log => $log, mercy => $c->{mercy}, stop_signal => 'INT');
    my $r = { system => $system, n => $n, rate => $c->{deploy_rate}, timeout => $c->{deploy_timeout}, rounds => [] };
    my ($load, $sampler);
    my $pss_file = "$c->{out}/deploy-$system-$n.pss";
    my $ok = eval {
        progress("$tag: starting ", $psgi ? "the Emperor with a heavy base and $n adopted vassals"
                                          : "uWSGI's Emperor with $n vassals that each load heavy.psgi");
        my $got = wait_http_200(ports => \@ports, match => qr/^code v1$/m, interval => $n > 10 ? 0.1 : 0.05,
                                timeout => 120 + ($psgi ? 0 : 5 * $n), max_inflight => 64,
                                on_tick => sub { progress("$tag: $_[0]/$_[1] serving code v1") });
        die sprintf("only %d of %d vassals answered with code v1\n", scalar keys %$got, $n) if keys %$got < $n;
        $r->{all_serving_s} = (sort { $b <=> $a } values %$got)[0] - $e->{started};
        if ($psgi) {
            my $st = emperor_stats("$d/stats.sock") or die "no stats from the Emperor\n";
            my $adopted = grep { $_->{adopted} && ($_->{base_generation} // 1) == 1 } @{ $st->{vassals} || [] };
            die "the Emperor's stats list $adopted vassal(s) adopted from base generation 1, expected $n\n" if $adopted != $n;
        }
        Time::HiRes::sleep(2);
        $sampler = start_pss_sampler($e->{pid}, $pss_file, $c->{deploy_pss_every});
        $load = start_load(ports => \@ports, result => "$d/load.json", rate => $c->{deploy_rate},
                           timeout => $c->{deploy_timeout});
        my $t_load = now();
        progress("$tag: all serving; load of $c->{deploy_rate} req/s (a connection each, round-robin), "
                 . "steady state for $c->{deploy_steady} s");
        Time::HiRes::sleep($c->{deploy_steady});
        # at least two PSS samples under the load before the touch
        wait_for(30, 0.1, sub { (grep { $_->[0] >= $t_load } read_pss_samples($pss_file)) >= 2 })
            or progress("$tag: note: fewer than 2 PSS samples in the steady state");
        load_news($load, 'v1', 0);    # (dies if the load client is gone)

        # the deploys: new code on disk, then the touch(es); the next one once
        # every vassal answers with this one's code and deploy_tail s have passed
        pss_sampler_pause($pss_file, 1);
        for my $k (1 .. $rounds) {
            my $v = 'v' . ($k + 1);
            my $pss = $plan[ $k - 1 ];
            if ($pss) {    # the sampler again, two samples before the touch
                my $t = now();
                pss_sampler_pause($pss_file, 0);
                wait_for(30, 0.1, sub { (grep { $_->[0] >= $t } read_pss_samples($pss_file)) >= 2 })
                    or progress("$tag: note: fewer than 2 PSS samples before the PSS deploy");
            }
            write_code($d, $v);
            my $round = { version => $v, pss => $pss, loadavg_at_touch => loadavg() };
            my ($t_touch, $wall_touch) = (now(), Time::HiRes::time());
            for my $f ($psgi ? ("$d/vassals/base.ini") : @inis) { utime(undef, undef, $f) or die "touch $f: $!\n" }
            @$round{qw(t_touch wall_touch touch_s)} = ($t_touch, $wall_touch, now() - $t_touch);
            my $what = "$tag" . ($rounds > 1 ? " deploy $k/$rounds" : '') . ($pss ? ' (PSS sampled)' : '');
            progress("$what: code $v written, ", $psgi ? 'base.ini' : "all $n vassal configs", ' touched');
            my $limit = 120 + ($psgi ? 0 : 5 * $n);
            my $next = now() + 1;
            while ((my $got = load_news($load, $v, 0.1)) < $n) {
                die "only $got of $n vassals answered with code $v within $limit s of the touch\n" if now() - $t_touch > $limit;
                die "the Emperor exited (see $log)\n" if waitpid($e->{pid}, POSIX::WNOHANG()) == $e->{pid};
                next if now() < $next;
                progress(sprintf '%s: %d/%d on code %s after %.0f s', $what, $got, $n, $v, now() - $t_touch);
                $next = now() + 1;
            }
            $round->{first_new_s} = [map { $load->{first}{$v}{$_} - $t_touch } 0 .. $n - 1];
            $round->{all_new_s} = (sort { $b <=> $a } @{ $round->{first_new_s} })[0];
            progress(sprintf '%s: every vassal answered with code %s %s s after the touch', $what, $v, fmt_s($round->{all_new_s}));
            wait_for(60, 0.05, sub { (() = BenchKit::log_text($e) =~ /deploy of base\.ini (?:finished|FAILED)/g) >= $k })
                or die "no 'deploy of base.ini finished' in the Emperor's log within 60 s\n" if $psgi;
            Time::HiRes::sleep($c->{deploy_tail});    # the old generations exit; PSS settles
            $round->{loadavg_at_end} = loadavg();
            push @{ $r->{rounds} }, $round;
            pss_sampler_pause($pss_file, 1) if $pss;
        }
        my $l = stop_load($load);
        undef $load;
        end_child($sampler, 'TERM', 5);
        undef $sampler;
        deploy_rounds($r, $l, [read_pss_samples($pss_file)], $t_load);

        # afterwards, without load: every vassal answers with the last code
        my $last = 'v' . ($rounds + 1);
        my $after = wait_http_200(ports => \@ports, match => qr/^code $last$/m, interval => 0.05, timeout => 10, max_inflight => 64);
        $r->{after_on_new} = scalar keys %$after;
        if ($psgi) {
            $r->{timeline} = deploy_timeline($log, [map { $_->{wall_touch} } @{ $r->{rounds} }]);
            my $st = emperor_stats("$d/stats.sock") || {};
            my ($base) = grep { $_->{id} eq 'base.ini' } @{ $st->{vassals} || [] };
            $r->{stats_after} = { base_generation => $base ? $base->{generation} : undef,
                                  on_new_base => scalar(grep { $_->{adopted} && ($_->{base_generation} // 0) == $rounds + 1 }
                                                        @{ $st->{vassals} || [] }),
                                  deploys => scalar @{ $st->{deploys} || [] } };
        }
        else {
            # what uWSGI said: its listen queues overflowing, and anything else that looks wrong
            my @lines = split /\n/, BenchKit::log_text($e);
            $r->{uwsgi_listen_queue_full} = grep { /listen queue of socket .* full/ } @lines;
            my @bad = grep { /DAMN|error|segmentation|killed|!!!/i && !/listen queue of socket .* full|running uWSGI as root/ } @lines;
            $r->{uwsgi_log_errors} = [@bad[0 .. ($#bad < 19 ? $#bad : 19)]];
        }
        progress(sprintf '%s: %d requests, %d failed; PSS steady %s MiB%s', $tag, $r->{load}{sent}, $r->{load}{failed},
                 fmt_mib($r->{pss_steady_kb}), $r->{pss_peak_kb} ? ', peak ' . fmt_mib($r->{pss_peak_kb}) . ' MiB' : '');
        1;
    };
    my $err = $@;
    end_child($load->{pid}, 'KILL', 5) if $load;
    end_child($sampler, 'KILL', 5) if $sampler;
    unlink "$pss_file.pause";
    my $stop = stop_emperor($e);
    $r->{leftovers} = $stop->{leftovers};
    die $err unless $ok;
    return $r;
}

# The load's and the PSS sampler's numbers, per deploy (from its touch until
# the next one, or the end), times relative to its touch: requests, failures
# and flips (from the load's 0.25 s buckets), the last answer of the previous
# code, and for the deploy the sampler ran through, the PSS peak; PSS steady
# = the median under the load before the first touch. The load's totals stay,
# relative to the first touch. Over the timed deploys: the median time (and
# the deploy of that time, for the plot).
sub deploy_rounds {
    my ($r, $l, $samples, $t_load) = @_;
    my @rounds = @{ $r->{rounds} };
    my $t1 = $rounds[0]{t_touch};
    my @steady = map { $_->[1] } grep { $_->[0] < $t1 && $_->[0] >= $t_load } @$samples;
    @steady = map { $_->[1] } grep { $_->[0] < $t1 } @$samples unless @steady;
    $r->{pss_steady_kb} = median(@steady);
    $r->{pss_samples_steady} = scalar @steady;
    $r->{pss_sample_ms} = @$samples ? 1000 * median(map { $_->[3] } @$samples) : undef;
    for my $k (0 .. $#rounds) {
        my $x = $rounds[$k];
        my ($from, $to) = ($x->{t_touch}, $k < $#rounds ? $rounds[ $k + 1 ]{t_touch} : 9e9);
        my @b = grep { $_->{t} >= $from - $l->{bucket} && $_->{t} < $to - $l->{bucket} } @{ $l->{buckets} };
        $x->{requests} = 0;
        $x->{$_} = 0 for qw(failed flips);
        for my $bk (@b) { $x->{requests} += $bk->{ok} + $bk->{failed}; $x->{failed} += $bk->{failed}; $x->{flips} += $bk->{flips} }
        my $prev = 'v' . ($k + 1);
        my @old = grep { defined && $_ >= $from } @{ $l->{versions}{$prev}{last} || [] };
        $x->{last_old_s} = @old ? (sort { $b <=> $a } @old)[0] - $from : undef;
        $x->{touch_at} = delete($x->{t_touch}) - $t1;    # after the first touch
        next unless $x->{pss};
        my @during = grep { $_->[0] >= $from && $_->[0] < $to } @$samples;
        $x->{pss_peak_kb} = (sort { $b <=> $a } map { $_->[1] } grep { $_->[4] } @during)[0];
        $x->{pss_unstable} = grep { !$_->[4] } @during;
        $x->{pss_peak_unstable_kb} = (sort { $b <=> $a } map { $_->[1] } grep { !$_->[4] } @during)[0];
        $x->{pss_samples_during} = grep { $_->[0] >= $from && $_->[0] <= $from + $x->{all_new_s} } @$samples;
        $x->{pss_samples} = [map { [sprintf('%.3f', $_->[0] - $from) + 0, $_->[1] + 0, $_->[2] + 0, $_->[4] + 0] }
                             grep { $_->[0] >= $from - 2 && $_->[0] < $to } @$samples];
    }
    # the load's totals, its times relative to the first touch
    for my $v (values %{ $l->{versions} }) {
        $_ = [map { defined $_ ? $_ - $t1 : undef } @$_] for @$v{qw(first last)};
    }
    $_ = defined $_ ? $_ - $t1 : undef for @$l{qw(first_fail last_fail)};
    $_->{t} -= $t1 for @{ $l->{buckets} }, @{ $l->{fail_samples} };
    $r->{load} = $l;
    my @timed = grep { !$_->{pss} } @rounds;
    my @by_time = sort { $a->{all_new_s} <=> $b->{all_new_s} } @timed;
    $r->{median_round} = (grep { $rounds[$_] == $by_time[ $#by_time / 2 ] } 0 .. $#rounds)[0];
    $r->{pss_round} = (grep { $rounds[$_]{pss} } 0 .. $#rounds)[0];
    $r->{all_new_s} = median(map { $_->{all_new_s} } @timed);
    ($r->{pss_peak_kb}) = sort { $b <=> $a } grep { defined } map { $_->{pss_peak_kb} } @rounds;
}

1;
