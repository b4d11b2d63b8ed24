# Answers after 2 s: a request in flight when the vassal is told to stop shows whether
# the stop was graceful (byte 2: the answer still comes) or immediate (byte 0).
# GET /?mark=PATH creates PATH as the request starts, so a test knows it is in flight.
use strict;
use warnings;

sub {
    my ($env) = @_;
    if (($env->{QUERY_STRING} // '') =~ /\bmark=([^&]+)/) {
        open my $fh, '>', $1 or die "slow.psgi: $1: $!";
        close $fh;
    }
    sleep 2;
    my $body = "Slow hello from pid $$\n";
    [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
