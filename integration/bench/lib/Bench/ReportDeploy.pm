package Bench::ReportDeploy;
# The report's section 5 (deploy): the method, the results of both systems,
# this Emperor deploy by deploy, failures, and the deploy goals.
use strict;
use warnings;
use Exporter 'import';
use BenchKit qw(median fmt_ms fmt_s fmt_mib);
use Bench::Results qw(dp status_of pss_ratio);

our @EXPORT_OK = qw(deploy_report_md);

# "12 (reset 10, timeout 2)" / "0"
sub fmt_failed {
    my ($l) = @_;
    my $k = $l->{by_kind} || {};
    return $l->{failed} . (%$k ? ' (' . join(', ', map { "$_ $k->{$_}" } sort keys %$k) . ')' : '');
}

sub deploy_report_md {
    my ($c, $png) = @_;
    my $md = "## 5. Deploy: new code to N vassals of heavy.psgi, under load\n\n";
    return $md . "Not run (--phases).\n\n" unless $c->{phase}{deploy};
    if ($c->{splice}) {
        my ($l1) = split ' ', $c->{R}{machine}{load_start} // '0';
        $md .= sprintf "Measured %s, git commit %s%s, by `integration/bench/run --phases deploy --splice` (%.0f s); "
            . "load average at start %s, at end %s%s.\n\n", $c->{R}{started_at}, $c->{R}{git}{commit},
            $c->{R}{git}{dirty} ? ' (with uncommitted changes)' : '', $c->{R}{seconds}, $c->{R}{machine}{load_start}, $c->{R}{machine}{load_end},
            $l1 > 0.5 * $c->{R}{machine}{cores} ? ' (**a busy machine: noisy numbers**)' : '';
    }
    my $batch = $c->{deploy_batch} ? "`--emperor-deploy-batch $c->{deploy_batch}`" : 'its default `--emperor-deploy-batch` (8)';
    my $rounds = ($c->{deploy_rounds} > 1 ? "$c->{deploy_rounds} timed deploys in a row (`v2`, `v3`, …; each once every vassal "
        . "answered the previous one and $c->{deploy_tail} s have passed)" : 'one timed deploy')
        . ", then one more with the PSS sampler running (its page-table walks would slow the timed ones: by most "
        . "of a second at N = 50, nice 19 or not)";
    $md .= "Each system runs N vassals of heavy.psgi (a master and one worker each) that also load a small shared module, "
        . "`Deployed.pm`, whose version starts every answer (`code v1`). A deploy writes the next version into it (a "
        . "rename), then: **this Emperor** — a base vassal preloads both (`early-psgi`, `fork-server`) and every vassal "
        . "is adopted from it; the bench touches `base.ini` once, and the Emperor starts a new base generation, then "
        . "moves the vassals to it, $batch at a time; $rounds. **uWSGI 2.0's Emperor** (Debian's uwsgi-core and "
        . "uwsgi-plugin-psgi, its defaults; 2.0 has no fork server, so every vassal loads heavy.psgi itself) — the "
        . "bench touches every vassal's ini, as its users do (one loop), and the Emperor reloads each vassal it sees "
        . "touched (it polls the directory, every 3 s by default); one timed deploy (a PSS-sampled one would "
        . "take minutes more at N = 50, and the goals are this Emperor's).\n\n"
        . "Load: open-loop, $c->{deploy_rate} requests/s in all, round-robin over the N vassals, a new connection each "
        . "(HTTP/1.0), from $c->{deploy_steady} s before the (first) touch until $c->{deploy_tail} s after the last vassal "
        . "answered with the (last) new code. A request *fails* when its connection is refused or reset, closed before "
        . "a complete answer, answered with another status than 200, or not answered completely within $c->{deploy_timeout} "
        . "s. *Touch → all on new code*: until the last vassal's first answer naming the new version (each vassal "
        . "gets a request every N/$c->{deploy_rate} s, the resolution of that time); *last old-code answer*: the last "
        . "answer naming the previous version (with held sockets the old generation of a vassal may still answer a "
        . "request it accepted, or one it accepts in the few ms before its stop byte, after the new one answered: "
        . "*flips*); the first table gives the median over the timed deploys (and their range) and their latest "
        . "old-code answer, the table after it each deploy. *PSS*: the sum of `smaps_rollup` over every process below the Emperor (its JVM, or uWSGI's "
        . "Emperor process, left out), every $c->{deploy_pss_every} s at most (a heavy.psgi process costs the kernel ~2.5 ms to "
        . "read; the tables count the samples and give how long one took). A sample is no snapshot: when a process "
        . "is forked or exits while the others are read, shares move between processes read before and after (a new "
        . "base read alone, its first adoptions read later, counts its heap up to ~1.4 times), so a sample during "
        . "which the set of processes changed is *unstable*: counted, plotted as a point, and left out of the peak. "
        . "*Steady*: the median under the same load before the first touch; "
        . "*peak*: the largest stable sample from the PSS-sampled deploy's touch until the end.\n\n";
    my %label = ('psgi-vassal' => 'this Emperor (touch the base)', uwsgi => "uWSGI 2.0's Emperor (touch every vassal)");
    my %short = ('psgi-vassal' => 'this Emperor', uwsgi => 'uWSGI 2.0');
    $md .= "| system | N | deploys (timed + PSS) | requests | failed | touch → all on new code (s) | last old-code answer (s) | "
        . "latency p50 / p99 / max (ms) | answers > 1 s | PSS steady (MiB) | PSS peak (MiB) | peak / steady | "
        . "PSS samples: steady (each took) |\n|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for my $n (@{ $c->{deploy_sizes} }) {
        for my $sys (qw(psgi-vassal uwsgi)) {
            my $r = dp($c, $sys, $n);
            next unless %$r;
            if (my $s = status_of($r)) { $md .= "| $label{$sys} | $n | | $s | | | | | | | | | |\n"; next }
            my ($l, @rd) = ($r->{load}, @{ $r->{rounds} });
            my @timed = grep { !$_->{pss} } @rd;
            my @t = map { $_->{all_new_s} } @timed;
            my ($lo, $hi) = (sort { $a <=> $b } @t)[0, -1];
            my ($old) = sort { $b <=> $a } grep { defined } map { $_->{last_old_s} } @timed;
            my $x = pss_ratio($r);
            $md .= sprintf "| %s | %d | %s | %d | %s | %s | %s | %s / %s / %s | %d | %s | %s | %s | %d (%s ms) |\n",
                $label{$sys}, $n, scalar(@timed) . ' + ' . (@rd - @timed), $l->{sent}, fmt_failed($l),
                fmt_s($r->{all_new_s}) . (@timed > 1 ? ' (median; ' . fmt_s($lo) . '–' . fmt_s($hi) . ')' : ''),
                fmt_s($old), fmt_ms($l->{p50}), fmt_ms($l->{p99}), fmt_ms($l->{max}), $l->{slow_1s} // 0,
                fmt_mib($r->{pss_steady_kb}), defined $r->{pss_round} ? fmt_mib($r->{pss_peak_kb}) : 'not sampled',
                defined $x ? sprintf('%.2f×', $x) : 'n/a',
                $r->{pss_samples_steady} // 0, defined $r->{pss_sample_ms} ? sprintf('%.0f', $r->{pss_sample_ms}) : 'n/a';
        }
    }
    my @cpu = grep { $_->[1]{load} && defined $_->[1]{load}{cpu_s} }
              map { my $n = $_; map { [$_, dp($c, $_, $n), $n] } qw(psgi-vassal uwsgi) } @{ $c->{deploy_sizes} };
    $md .= "\nThe load client's own CPU time (its share of one core while it ran), and the load average (1, 5, 15 min) "
        . "at each touch → $c->{deploy_tail} s after its last vassal answered with the new code, as a sign of other work on "
        . "the machine:\n\n"
        . join('', map { sprintf "- %s, N = %d: %.0f %%; %s\n", $short{ $_->[0] }, $_->[2],
                              100 * $_->[1]{load}{cpu_s} / $_->[1]{load}{seconds},
                              join '; ', map { ($_->{loadavg_at_touch} // 'n/a') . ' → ' . ($_->{loadavg_at_end} // 'n/a') }
                                         @{ $_->[1]{rounds} } } @cpu)
        if @cpu;

    # this Emperor, deploy by deploy
    my @tl = grep { $_->[1]{timeline} } map { [$_, dp($c, 'psgi-vassal', $_)] } @{ $c->{deploy_sizes} };
    if (@tl) {
        $md .= "\nThis Emperor, deploy by deploy, in seconds after its touch; from its log (millisecond timestamps): "
            . "the touch seen, the new base generation serving its fork server (its load, from its spawn), the last "
            . "vassal's new generation accepting, and its own \"deploy of base.ini finished in X ms\"; from the load: "
            . "every vassal answering with the new code, the last old-code answer, failed requests and flips; for the "
            . "PSS-sampled deploy, the PSS peak over the steady state (the samples from its touch until all on the "
            . "new code, and the unstable ones after its touch). *Base load at boot*: "
            . "the first base's spawn → ready, with no vassal and no load yet: the \"base's own load time\" the goal "
            . "is judged against. After the last deploy the stats list every vassal on the last base generation and "
            . "no deploy under way unless said otherwise.\n\n";
        $md .= "| N | base load at boot | deploy | touch seen | new base serving (its load) | last vassal accepting | "
            . "\"finished in\" | all on new code | last old-code answer | failed | flips | PSS peak / steady (samples) |\n"
            . "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for my $x (@tl) {
            my ($n, $r) = @$x;
            my $t = $r->{timeline};
            for my $k (0 .. $#{ $r->{rounds} }) {
                my ($rd, $e) = ($r->{rounds}[$k], $t->{rounds}[$k] || {});
                $md .= sprintf "| %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s | %d | %d | %s |\n",
                    $k ? '' : $n, $k ? '' : fmt_s($t->{base_load_s}), ($k + 1) . ($rd->{pss} ? ' (PSS sampled)' : ''),
                    fmt_s($e->{seen_s}), fmt_s($e->{serves_s}),
                    fmt_s($e->{new_base_load_s}), fmt_s($e->{last_accepting_s}),
                    defined $e->{emperor_ms} ? "$e->{emperor_ms} ms" : 'n/a', fmt_s($rd->{all_new_s}), fmt_s($rd->{last_old_s}),
                    $rd->{failed}, $rd->{flips},
                    $rd->{pss_peak_kb} && $r->{pss_steady_kb}
                        ? sprintf('%.2f× (%d samples%s)', $rd->{pss_peak_kb} / $r->{pss_steady_kb}, $rd->{pss_samples_during} // 0,
                                  $rd->{pss_unstable} ? sprintf(', %d unstable: up to %.2f×', $rd->{pss_unstable},
                                                                ($rd->{pss_peak_unstable_kb} // 0) / $r->{pss_steady_kb}) : '')
                        : '';
            }
        }
        for my $x (@tl) {
            my ($n, $r) = @$x;
            my ($t, $st, $last) = ($r->{timeline}, $r->{stats_after} || {}, 1 + @{ $r->{rounds} });
            my @odd;
            push @odd, "a deploy FAILED: $_" for @{ $t->{deploys_failed} || [] };
            push @odd, "stats afterwards: base generation " . ($st->{base_generation} // '?') . ", "
                . ($st->{on_new_base} // '?') . " of $n vassals on base generation $last, $st->{deploys} deploy(s) under way"
                if ($st->{base_generation} // 0) != $last || ($st->{on_new_base} // 0) != $n || $st->{deploys};
            push @odd, "$r->{after_on_new} of $n answered with the last code once the load stopped"
                if ($r->{after_on_new} // $n) != $n;
            push @odd, scalar(@{ $t->{warnings} }) . " WARN/ERROR line(s) in the Emperor's log, e.g. `$t->{warnings}[0]`"
                if @{ $t->{warnings} || [] };
            $md .= "\nN = $n: " . join('; ', @odd) . ".\n" if @odd;
        }
    }
    my @fails = grep { $_->[1]{load} && @{ $_->[1]{load}{fail_samples} || [] } }
                map { my $n = $_; map { [$_, dp($c, $_, $n), $n] } qw(psgi-vassal uwsgi) } @{ $c->{deploy_sizes} };
    for my $x (@fails) {
        my ($sys, $r, $n) = @$x;
        my $l = $r->{load};
        my @first = grep { defined } @{ $l->{fail_samples} }[0 .. 2];
        $md .= sprintf "\nFailed requests, %s N = %d: from %s s to %s s after the (first) touch; the first: %s.", $short{$sys}, $n,
            fmt_s($l->{first_fail}), fmt_s($l->{last_fail}),
            join '; ', map { sprintf '%s s, port %d, %s', fmt_s($_->{t}), $_->{port}, $_->{what} } @first;
        $md .= " uWSGI logged $r->{uwsgi_listen_queue_full} \"listen queue of socket … full\" line(s)."
            if $r->{uwsgi_listen_queue_full};
        $md .= " Other uWSGI log lines that look wrong: "
            . join('; ', map { "`$_`" } grep { defined } @{ $r->{uwsgi_log_errors} }[0 .. 1]) . '.'
            if @{ $r->{uwsgi_log_errors} || [] };
        $md .= "\n";
    }
    my @left = grep { $_->{leftovers} } values %{ $c->{R}{deploy} || {} };
    $md .= "\n**Warning:** processes outlived their Emperor in " . scalar(@left) . " deploy run(s) and were killed by the bench.\n"
        if @left;
    $md .= "\n![deploy: vassals on the new code and PSS over time](deploy.png)\n" if $png->{'deploy.png'};

    # the goals, judged on this Emperor's numbers
    my @ns = grep { !status_of(dp($c, 'psgi-vassal', $_)) && %{ dp($c, 'psgi-vassal', $_) } } @{ $c->{deploy_sizes} };
    my $gn = (grep { $_ == 50 } @ns) ? 50 : (sort { $b <=> $a } @ns)[0];
    $md .= "\n### Deploy goals, from this run\n\n";
    if (!@ns) { return $md . "No deploy of this Emperor was measured.\n\n" }
    $md .= "The time goal is stated for N = 50" . ($gn == 50 ? '' : "; this run has no N = 50, so it is judged at N = $gn")
        . ", on the median of the timed deploys (each deploy's time: until every vassal answered with the new code "
        . "and none with the old one since)"
        . ".\n\n| goal | target | measured | status |\n|---|---|---|---|\n";
    my $row = sub { $md .= "| $_[0] | $_[1] | $_[2] | " . ($_[3] ? '**met**' : '**not met**') . " |\n" };
    for my $n (@ns) {
        my $l = dp($c, 'psgi-vassal', $n)->{load};
        $row->("failed requests during the deploys, N = $n", '0', "$l->{failed} of $l->{sent}", $l->{failed} == 0);
    }
    my $g = dp($c, 'psgi-vassal', $gn);
    my $base = $g->{timeline} && $g->{timeline}{base_load_s};
    if (defined $base) {
        # each deploy: until every vassal answered with the new code, and none with the old one since
        my @k = grep { !$g->{rounds}[$_]{pss} } 0 .. $#{ $g->{rounds} };    # the timed deploys
        my @done = map { my ($d) = sort { $b <=> $a } grep { defined } $_->{all_new_s}, $_->{last_old_s}; $d } @{ $g->{rounds} }[@k];
        my @nb = map { $_->{new_base_load_s} } @{ $g->{timeline}{rounds} || [] }[@k];
        my $judge = sub {
            my ($label, $target, @limit) = @_;
            my $med = median(@done);
            my $in = grep { defined $limit[$_] && $done[$_] <= $limit[$_] } 0 .. $#done;
            my $m = fmt_s($med) . ' s' . (@done > 1 ? sprintf(' (median; %s; %d of %d within)', join(' / ', map { fmt_s($_) } @done),
                                                             $in, scalar @done) : '');
            my $margin = median(map { $done[$_] - $limit[$_] } grep { defined $limit[$_] } 0 .. $#done);
            $row->($label, $target, $m, defined $margin && $margin <= 0);    # the median deploy is within
        };
        $judge->("touch → every vassal on the new code, N = $gn", sprintf('≤ base load at boot + 1 s = %s s', fmt_s($base + 1)),
                 map { $base + 1 } @done);
        $judge->("… against each new base's own load during its deploy (under the load), N = $gn",
                 '≤ that load + 1 s (' . join(' / ', map { fmt_s(defined $_ ? $_ + 1 : undef) } @nb) . ' s)',
                 map { defined $_ ? $_ + 1 : undef } @nb[0 .. $#done]) if grep { defined } @nb;
    }
    else { $md .= "| touch → every vassal on the new code, N = $gn | ≤ base load + 1 s | base load not found in the log | n/a |\n" }
    for my $n (@ns) {
        my $r = dp($c, 'psgi-vassal', $n);
        my $x = pss_ratio($r);
        if (!defined $x) { $md .= "| peak total PSS during a deploy vs steady state, N = $n | ≤ 2× | no PSS sample | n/a |\n"; next }
        $row->("peak total PSS during a deploy vs steady state, N = $n", '≤ 2×',
               sprintf('%.2f× (%s vs %s MiB)', $x, fmt_mib($r->{pss_peak_kb}), fmt_mib($r->{pss_steady_kb})), $x <= 2);
    }
    return "$md\n";
}

1;
