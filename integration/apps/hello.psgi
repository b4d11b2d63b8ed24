# A minimal PSGI app: used by the Perl and Java integration tests.
my $app = sub {
    my ($env) = @_;
    my $body = "Hello from pid $$\n";
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
