package Bench::Throughput;
# Measurement 3: integration/bench/throughput (wrk against one worker of
# psgi-vassal, Starman and uWSGI's PSGI plugin) for hello.psgi and Dancer2;
# its markdown as is, and its req/s columns as numbers for the plot.
use strict;
use warnings;
use File::Path qw(make_path);
use POSIX ();
use BenchKit qw(progress write_file);

sub run {
    my ($c) = @_;
    return { unavailable => 'integration/bench/throughput is not there yet' } unless -x $c->{throughput};
    my %r;
    for my $app ([hello => $c->{hello}], [dancer2 => $c->{dancer}]) {
        my ($name, $path) = @$app;
        progress("throughput $name: running $c->{throughput}", $c->{quick} ? ' (quick)' : '');
        # its knobs are environment variables: 2 s x 1 round per mode (quick), 5 s x 3 rounds (full)
        local $ENV{DURATION} = $ENV{DURATION} // ($c->{quick} ? 2 : 5);
        local $ENV{ROUNDS} = $ENV{ROUNDS} // ($c->{quick} ? 1 : 3);
        local $ENV{TMPDIR} = "$c->{tmp}/throughput";    # its temp dir goes with ours, whatever happens
        make_path($ENV{TMPDIR});
        my @cmd = ($c->{throughput}, $path);
        my $pid = open my $fh, '-|';
        die "fork: $!" unless defined $pid;
        if (!$pid) { { no warnings "exec"; exec { $cmd[0] } @cmd; } POSIX::_exit(127) }
        my $text = do { local $/; <$fh> };
        close $fh;
        my $rc = $? >> 8;
        write_file("$c->{out}/throughput-$name.md", $text // '');
        if ($rc) {
            $r{$name} = { failed => "exit status $rc", text => $text };
            progress("throughput $name: exit status $rc");
            next;
        }
        $r{$name} = { text => $text, rows => [parse_throughput($text)] };
        progress("throughput $name: ", scalar @{ $r{$name}{rows} }, ' result(s)');
    }
    return \%r;
}

# Its markdown tables -> {server, mode, rps}: every column whose header says
# "req/s" is one mode (the header without "req/s"), the first cell names the
# server; tables without such a column (the ratios) are skipped.
sub parse_throughput {
    my ($text) = @_;
    my (@rows, @head);
    for my $line (split /\n/, $text // '') {
        if ($line !~ /^\s*\|/) { @head = (); next }    # a table ends
        my @c = map { s/^\s+|\s+$//gr } split /\|/, $line;
        shift @c;
        if (!@head) { @head = @c; next }
        next if join('', @c) =~ /^[-:\s]*$/;
        for my $i (grep { $head[$_] =~ m{req(?:uests)?/s}i } 1 .. $#head) {
            (my $v = $c[$i] // '') =~ s/[,\s*]//g;
            next unless $v =~ /^\d+(?:\.\d+)?$/;
            (my $mode = $head[$i]) =~ s{\s*req(?:uests)?/s\s*}{}i;
            $mode =~ s/^Connection:\s*//i;
            push @rows, { server => $c[0], mode => $mode, rps => 0 + $v };
        }
    }
    return @rows;
}

1;
