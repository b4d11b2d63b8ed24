package Bench::Plots;
# The report's plots: gnuplot scripts and their data under the output dir,
# the PNGs next to the report (pngcairo when gnuplot has it).
use strict;
use warnings;
use Exporter 'import';
use BenchKit qw(progress write_file fmt_mib);
use Bench::Results qw(sp dp);

our @EXPORT_OK = qw(plots);

sub num { defined $_[0] ? $_[0] : 'NaN' }

# Draws every plot the results have data for; returns the PNGs made.
sub plots {
    my ($c) = @_;
    my ($gp) = grep { -x "$_/gnuplot" } split /:/, $ENV{PATH} // '';
    if (!$gp) { progress('gnuplot not found: no plots (make bench-deps installs gnuplot-nox)'); return () }
    my $terms = `gnuplot -e 'set terminal' 2>&1`;
    my $term = $terms =~ /\bpngcairo\b/ ? "pngcairo size 900,560 font 'DejaVu Sans,11'" : 'png size 900,560';
    my @made;
    # uWSGI 2.1's figures from the issue (10 vassals), when N = 10 is on the axis
    my ($REF_SPAWN, $REF_PSS) = ('', '');
    if (grep { $_ == 10 } @{ $c->{sizes} }) {
        my $ref = write_file("$c->{out}/uwsgi-reference.dat", "# N adopted_s cold_s adopted_MiB cold_MiB (issue 6)\n10 2.4 14.4 763 2917\n");
        $REF_SPAWN = qq(, \\\n     "$ref" using 1:3 with points pt 5 ps 1.6 lc rgb "#7b241c" title "uWSGI 2.1 cold, N=10 (issue)")
                   . qq(, \\\n     "$ref" using 1:2 with points pt 5 ps 1.6 lc rgb "#1b4f72" title "uWSGI 2.1 adopted, N=10 (issue)");
        $REF_PSS = qq(, \\\n     "$ref" using 1:5 with points pt 5 ps 1.6 lc rgb "#7b241c" title "uWSGI 2.1 cold, N=10 (issue)")
                 . qq(, \\\n     "$ref" using 1:4 with points pt 5 ps 1.6 lc rgb "#1b4f72" title "uWSGI 2.1 adopted, N=10 (issue)");
    }
    # spawn time vs N
    my @spawn = grep { defined sp($c, 'adopted', $_)->{all_serving} || defined sp($c, 'cold', $_)->{all_serving} } @{ $c->{sizes} };
    if (@spawn) {
        my $dat = "$c->{out}/spawn.dat";
        write_file($dat, "# N adopted_all adopted_median cold_all cold_median (seconds)\n" . join '', map {
            my ($a, $cold) = (sp($c, 'adopted', $_), sp($c, 'cold', $_));
            join(' ', $_, num($a->{all_serving}), num($a->{median}), num($cold->{all_serving}), num($cold->{median})) . "\n"
        } @spawn);
        push @made, gnuplot($c, 'spawn.png', $term, by_n($c, "Spawn: heavy.psgi vassal files dropped at once -> HTTP 200",
            'vassals dropped at once (N)', 'seconds (log scale)', $dat,
            ['cold: all serving', 'cold: median file -> first 200', 'adopted: all serving',
             'adopted: median file -> first 200']) . "$REF_SPAWN\n");
        my @mem = grep { defined sp($c, 'adopted', $_)->{pss_idle_kb} || defined sp($c, 'cold', $_)->{pss_idle_kb} } @{ $c->{sizes} };
        my $mdat = "$c->{out}/pss.dat";
        write_file($mdat, "# N adopted_idle adopted_after cold_idle cold_after (MiB)\n" . join '', map {
            my ($a, $cold) = (sp($c, 'adopted', $_), sp($c, 'cold', $_));
            join(' ', $_, map { defined $_ ? $_ / 1024 : 'NaN' }
                 $a->{pss_idle_kb}, $a->{pss_after_kb}, $cold->{pss_idle_kb}, $cold->{pss_after_kb}) . "\n"
        } @mem);
        push @made, gnuplot($c, 'pss.png', $term, by_n($c, 'Memory: total PSS of all vassal processes (heavy.psgi, 1 worker each)',
            'vassals (N)', 'MiB (log scale)', $mdat,
            ['cold, idle', "cold, after $c->{requests} req/vassal", 'adopted (base included), idle',
             "adopted, after $c->{requests} req/vassal"]) . "$REF_PSS\n") if @mem;
    }
    # requests/s per server: one panel per app (their scales differ ~30x)
    my (%grid, %servers, %modes, @apps);
    for my $app (qw(hello dancer2)) {
        for my $row (@{ $c->{R}{throughput}{$app}{rows} || [] }) {
            push @apps, $app unless grep { $_ eq $app } @apps;
            push @{ $modes{$app} }, $row->{mode} unless grep { $_ eq $row->{mode} } @{ $modes{$app} || [] };
            $servers{ $row->{server} } //= scalar keys %servers;
            $grid{$app}{ $row->{mode} }{ $row->{server} } = $row->{rps};
        }
    }
    if (@apps) {
        my @srv = sort { $servers{$a} <=> $servers{$b} } keys %servers;
        my %title = (hello => 'hello.psgi', dancer2 => 'Dancer2 app');
        my $panels = '';
        for my $app (@apps) {
            my $tdat = "$c->{out}/throughput-$app.dat";
            write_file($tdat, join("\t", 'mode', map { qq("$_") } @srv) . "\n" . join '', map {
                my $m = $_;
                join("\t", qq("$m"), map { num($grid{$app}{$m}{$_}) } @srv) . "\n"
            } @{ $modes{$app} });
            $panels .= qq(set title "$title{$app}"\n)
                . "set xrange [-0.6:" . (@{ $modes{$app} } - 0.4) . "]\n"
                . qq(plot for [i=2:@{[ 1 + @srv ]}] "$tdat" using i:xtic(1) title columnheader(i)\n);
        }
        my $w = 480 * @apps;
        (my $wide = $term) =~ s/size \d+,\d+/size $w,520/;
        push @made, gnuplot($c, 'throughput.png', $wide, <<"GP");
set multiplot layout 1,@{[ scalar @apps ]} title "Throughput: one worker, wrk on 127.0.0.1 (requests/s)"
set ylabel "requests/s"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key below horizontal maxrows 1 samplen 1.5 width -1
set yrange [0:*]
set datafile missing "NaN"
$panels
unset multiplot
GP
    }
    # deploy: per N, vassals on the new code and PSS / steady over time since the touch (log time axis)
    my @dn = grep { my $n = $_; grep { defined dp($c, $_, $n)->{median_round} } qw(psgi-vassal uwsgi) } @{ $c->{deploy_sizes} };
    if (@dn) {
        my %style = ('psgi-vassal' => ['#2471a3', 'this Emperor'], uwsgi => ['#c0392b', "uWSGI 2.0's Emperor"]);
        my ($panels, $xmax) = ('', 1);
        for my $n (@dn) {
            my (@new, @pss, @fail);
            for my $sys (grep { defined dp($c, $_, $n)->{median_round} } qw(psgi-vassal uwsgi)) {
                my $r = dp($c, $sys, $n);
                my $x = $r->{rounds}[ $r->{median_round} ];    # the timed deploy of median time
                my @t = sort { $a <=> $b } @{ $x->{first_new_s} };
                my $dat = write_file("$c->{out}/deploy-$sys-$n-new.dat", "# seconds after the touch, vassals answering with the new code\n"
                    . "0.001 0\n" . join('', map { sprintf "%.4f %d\n", $t[$_], $_ + 1 } 0 .. $#t)
                    . sprintf("%.4f %d\n", $t[-1] + $c->{deploy_tail}, scalar @t));
                $xmax = $t[-1] + $c->{deploy_tail} if $t[-1] + $c->{deploy_tail} > $xmax;
                my ($colour, $name) = @{ $style{$sys} };
                if (defined $r->{pss_round} && $r->{pss_steady_kb}) {    # the deploy the PSS sampler ran through
                    my $y = $r->{rounds}[ $r->{pss_round} ];
                    for my $stable (1, 0) {
                        my @p = grep { $_->[0] > 0 && ($_->[3] // 1) == $stable } @{ $y->{pss_samples} };
                        next unless @p;
                        my $pdat = write_file("$c->{out}/deploy-$sys-$n-pss" . ($stable ? '' : '-unstable') . '.dat',
                            "# seconds after the touch, total PSS / steady, MiB\n"
                            . join '', map { sprintf "%.3f %.4f %.1f\n", $_->[0], $_->[1] / $r->{pss_steady_kb}, $_->[1] / 1024 } @p);
                        push @pss, $stable
                            ? qq("$pdat" using 1:2 with lines lw 2 lc rgb "$colour" title "$name (steady @{[ fmt_mib($r->{pss_steady_kb}) ]} MiB)")
                            : qq("$pdat" using 1:2 with points pt 6 lc rgb "$colour" title "$name: unstable samples");
                    }
                }
                my $f = $x->{failed};
                my $timed = grep { !$_->{pss} } @{ $r->{rounds} };
                my $of = $timed > 1 ? " (the median of $timed timed deploys)" : '';
                push @new, qq("$dat" using 1:2 with steps lw 2 lc rgb "$colour" title "$name$of: $f failed request(s)");
                if ($f) {    # failures per second, on the right-hand axis (this deploy's, until the next one)
                    my $bw = $r->{load}{bucket};
                    my $next = $r->{rounds}[ $r->{median_round} + 1 ];
                    my $until = $next ? $next->{touch_at} - $x->{touch_at} : 9e9;
                    my $fdat = write_file("$c->{out}/deploy-$sys-$n-failed.dat", "# seconds after the touch, failed requests/s\n"
                        . join '', map { sprintf "%.3f %.1f\n", $_->{t} - $x->{touch_at} + $bw / 2, $_->{failed} / $bw }
                                   grep { $_->{failed} && $_->{t} - $x->{touch_at} > 0 && $_->{t} - $x->{touch_at} < $until }
                                   @{ $r->{load}{buckets} });
                    push @fail, qq("$fdat" using 1:2 axes x1y2 with impulses lw 1 lc rgb "$colour" title "$name: failed requests/s (right axis)");
                }
            }
            $panels .= qq(set title "N = $n: vassals answering with the new code"\nset ylabel "vassals"\nset yrange [0:@{[ $n * 1.1 ]}]\n)
                . (@fail ? qq(set y2label "failed requests/s"\nset y2range [0:*]\nset y2tics\nset ytics nomirror\n) : '')
                . "plot " . join(", \\\n     ", @new, @fail) . "\n"
                . qq(unset y2label\nunset y2tics\nset ytics mirror\n);
            $panels .= qq(set title "N = $n: total PSS / steady, in the PSS-sampled deploy"\nset ylabel "× steady"\n)
                . qq(set yrange [0:*]\n)
                . "plot " . join(", \\\n     ", @pss, qq(2 with lines dt 2 lc rgb "#555555" title "goal: 2×")) . "\n";
        }
        my $h = 300 + 260 * @dn;
        (my $big = $term) =~ s/size \d+,\d+/size 1100,$h/;
        push @made, gnuplot($c, 'deploy.png', $big, <<"GP");
set multiplot layout @{[ scalar @dn ]},2 title "Deploy under $c->{deploy_rate} requests/s: this Emperor (touch the base) vs uWSGI 2.0 (touch every vassal)"
set xlabel "seconds after the touch (log scale)"
set logscale x
set xrange [0.05:@{[ $xmax * 1.2 ]}]
set grid
set key below horizontal
$panels
unset multiplot
GP
    }
    return grep { defined } @made;
}

# A plot over N (both axes logarithmic) of a .dat file whose columns 2-5 are
# adopted, adopted (second measure), cold, cold (second measure); the titles
# in the order cold, cold 2nd, adopted, adopted 2nd. Ends without a newline,
# so the caller can add series.
sub by_n {
    my ($c, $title, $xlabel, $ylabel, $dat, $titles) = @_;
    my @sizes = @{ $c->{sizes} };
    my @series = ([4, 'lw 2 pt 7', '#c0392b'], [5, 'lw 1 dt 2 pt 6', '#c0392b'], [2, 'lw 2 pt 7', '#2471a3'],
                  [3, 'lw 1 dt 2 pt 6', '#2471a3']);
    return qq(set title "$title"\nset xlabel "$xlabel"\nset ylabel "$ylabel"\nset logscale y\nset logscale x\n)
        . 'set xtics (' . join(', ', @sizes) . ")\n"
        . 'set xrange [' . $sizes[0] * 0.8 . ':' . $sizes[-1] * 1.25 . "]\n"
        . qq(set grid\nset key top left\nset datafile missing "NaN"\n)
        . 'plot ' . join(", \\\n     ", map {
              my ($col, $style, $rgb) = @{ $series[$_] };
              qq("$dat" using 1:$col with linespoints $style lc rgb "$rgb" title "$titles->[$_]")
          } 0 .. 3);
}

sub gnuplot {
    my ($c, $png, $term, $script) = @_;
    my $path = "$c->{plots}/$png";
    my $gp = "$c->{out}/" . ($png =~ s/\.png$/.gp/r);
    write_file($gp, "set terminal $term\nset output '$path'\n$script");
    system('gnuplot', $gp) == 0 or do { progress("gnuplot failed on $gp"); return undef };
    progress("plot: $path");
    return $png;
}

1;
