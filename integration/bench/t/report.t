#!/usr/bin/perl
# integration/bench/report rebuilds a report from a results.json alone, with
# no Emperor, no vassal and no measuring. t/data/deploy-results.json is the
# results.json of the deploy run (`run --phases deploy --splice`) whose
# numbers are section 5 of the committed REPORT.md.
#
#   prove integration/bench/t/
use strict;
use warnings;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use FindBin;
use Test::More;

my $BENCH = "$FindBin::RealBin/..";
my $REPORT = "$BENCH/report";
my $DATA = "$FindBin::RealBin/data/deploy-results.json";
my ($gnuplot) = grep { -x "$_/gnuplot" } split /:/, $ENV{PATH} // '';
BAIL_OUT('no gnuplot in PATH (make bench-deps installs gnuplot-nox)') unless $gnuplot;
my $TMP = tempdir('bench-report-t.XXXXXX', TMPDIR => 1, CLEANUP => 1);
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);    # File::Temp's cleanup still runs

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

# Runs the report program; returns (exit status, its stderr).
sub report {
    my @args = @_;
    my $err = "$TMP/stderr";
    system("$REPORT @args 2>$err >/dev/null");
    return ($? >> 8, slurp($err));
}

# --splice into a copy of the committed report: byte for byte the same
{
    my $dir = "$TMP/splice";
    mkdir $dir;
    copy("$BENCH/REPORT.md", "$dir/REPORT.md") or die "copy: $!";
    my ($rc, $err) = report('--results', $DATA, '--out', "$dir/out", '--report', "$dir/REPORT.md", '--splice');
    is($rc, 0, '--splice: exit status 0') or diag $err;
    my ($got, $want) = (slurp("$dir/REPORT.md"), slurp("$BENCH/REPORT.md"));
    ok($got eq $want, 'the committed REPORT.md, rebuilt from its deploy results.json with --splice, is unchanged')
        or diag "section 5 of REPORT.md no longer comes from t/data/deploy-results.json (after a new deploy run, "
              . "copy its out/full/results.json there); diff $BENCH/REPORT.md $dir/REPORT.md";
    ok(-s "$dir/deploy.png", 'deploy.png drawn next to the report');
    ok(-s "$dir/out/deploy.gp", 'its gnuplot script in --out');
}

# No --splice: a whole report; the phases the results lack are said not run
{
    my $dir = "$TMP/whole";
    my ($rc, $err) = report('--results', $DATA, '--report', "$dir/REPORT.md", '--out', "$dir/out");
    is($rc, 0, 'a whole report: exit status 0') or diag $err;
    my $md = slurp("$dir/REPORT.md");
    like($md, qr/^# Benchmark report/, 'it starts with the header');
    is(() = $md =~ /^Not run \(--phases\)\.$/mg, 4, 'spawn, memory, throughput and scale: not run (--phases)');
    like($md, qr/^## 5\. Deploy.*^\| this Emperor \(touch the base\) \| 50 \|/ms, 'the deploy table has this Emperor at N = 50');
    unlike($md, qr/^Measured /m, 'no "Measured ... --splice" line outside --splice');
}

# Bad input: named, and nothing written
{
    my $bad = "$TMP/bad.json";
    open my $fh, '>', $bad or die;
    print {$fh} "not json\n";
    close $fh;
    my ($rc, $err) = report('--results', $bad, '--report', "$TMP/bad/REPORT.md");
    isnt($rc, 0, 'a results file that is not JSON: a failure');
    like($err, qr/\Q$bad\E is not JSON/, '... naming the file');
    ok(!-e "$TMP/bad/REPORT.md", '... and no report written');
    ($rc, $err) = report('--results', "$TMP/none.json");
    isnt($rc, 0, 'a results file that is not there: a failure');
    like($err, qr{cannot read \Q$TMP\E/none\.json}, '... naming the file');
}

done_testing;
