# For t/42http_smuggling.t: answers every request with the worker's pid, the
# method, the path and the length of the body it read.
my $app = sub {
    my ($env) = @_;
    my ($len, $buf) = (0, '');
    if (my $in = $env->{'psgi.input'}) {
        while (1) {
            my $n = $in->read($buf, 65536);
            last unless $n;
            $len += $n;
        }
    }
    my $body = "pid=$$ method=$env->{REQUEST_METHOD} path=$env->{PATH_INFO} len=$len\n";
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
