package Bench::Results;
# results.json read back for the report: the run's settings (what was
# measured, with which counts) and lookups into its results.
use strict;
use warnings;
use Exporter 'import';
use JSON::PP ();
use BenchKit qw(slurp);

our @EXPORT_OK = qw(load_results sp dp status_of pss_ratio);

# The report's context from a results.json: {R => the results, quick, sizes,
# deploy_sizes, requests, ondemand, idle, idle_seconds, deploy_rate,
# deploy_timeout, deploy_batch, deploy_rounds, deploy_pss_every,
# deploy_steady, deploy_tail, phase => {name => 1}}.
sub load_results {
    my ($file) = @_;
    my $text = slurp($file);
    die "bench report: cannot read $file: " . ($! || 'empty') . "\n" if $text eq '';
    my $R = eval { JSON::PP->new->decode($text) } or die "bench report: $file is not JSON: $@";
    die "bench report: $file has no results of integration/bench/run (no 'phases', 'sizes' or 'counts')\n"
        unless ref $R eq 'HASH' && ref $R->{phases} eq 'ARRAY' && ref $R->{sizes} eq 'ARRAY' && ref $R->{counts} eq 'HASH';
    my $k = $R->{counts};
    my $quick = $R->{quick} ? 1 : 0;
    return {
        R => $R, quick => $quick, sizes => $R->{sizes}, deploy_sizes => $R->{deploy_sizes} || [],
        requests => $R->{requests}, ondemand => $k->{ondemand}, idle => $k->{idle}, idle_seconds => $k->{idle_seconds},
        deploy_rate => $k->{deploy_rate}, deploy_timeout => $k->{deploy_timeout}, deploy_batch => $k->{deploy_batch},
        # results.json files older than these keys come from runs that used these values
        deploy_rounds => $k->{deploy_rounds} // 1, deploy_pss_every => $k->{deploy_pss_interval} // 0.2,
        deploy_steady => $k->{deploy_steady} // ($quick ? 2 : 3), deploy_tail => $k->{deploy_tail} // ($quick ? 2 : 3),
        phase => { map { $_ => 1 } @{ $R->{phases} } },
    };
}

# One spawn result, or {} (without creating it).
sub sp {
    my ($c, $mode, $n) = @_;
    return {} unless $c->{R}{spawn} && $c->{R}{spawn}{"$mode/$n"};
    return $c->{R}{spawn}{"$mode/$n"};
}

# One deploy result, or {} (without creating it).
sub dp {
    my ($c, $system, $n) = @_;
    return {} unless $c->{R}{deploy} && $c->{R}{deploy}{"$system/$n"};
    return $c->{R}{deploy}{"$system/$n"};
}

sub status_of {
    my ($r) = @_;
    return "not available: $r->{unavailable}" if $r->{unavailable};
    return "failed: $r->{failed}" if $r->{failed};
    return undef;
}

# Peak total PSS over steady state, or undef without both samples.
sub pss_ratio {
    my ($r) = @_;
    return $r->{pss_peak_kb} && $r->{pss_steady_kb} ? $r->{pss_peak_kb} / $r->{pss_steady_kb} : undef;
}

1;
