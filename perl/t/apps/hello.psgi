# A minimal PSGI app: what the fork-server tests preload and adopt
# (the repository's integration/apps/hello.psgi, shipped with the tests).
my $app = sub {
    my ($env) = @_;
    my $body = "Hello from pid $$\n";
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
