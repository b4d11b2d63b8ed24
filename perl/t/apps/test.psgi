# The app the Vassal tests serve: one behaviour per path.
use strict;
use warnings;

my $app = sub {
    my ($env) = @_;
    my $path = $env->{PATH_INFO};
    my $text = sub { [200, ['Content-Type' => 'text/plain'], [$_[0]]] };

    if ($path eq '/echo') {
        my $body = '';
        while ($env->{'psgi.input'}->read(my $buf, 8192)) { $body .= $buf }
        return [200, ['Content-Type' => 'text/plain', 'X-Content-Length' => $env->{CONTENT_LENGTH} // ''], [$body]];
    }
    if ($path =~ m{\A/env}) {
        my @keys = qw(REQUEST_METHOD PATH_INFO QUERY_STRING SERVER_NAME SERVER_PORT
                      SERVER_PROTOCOL REMOTE_ADDR SCRIPT_NAME HTTP_HOST);
        my $out = join '', map { "$_=" . ($env->{$_} // '') . "\n" } @keys;
        $out .= "psgi.$_=" . (ref $env->{"psgi.$_"} eq 'ARRAY' ? join('.', @{ $env->{"psgi.$_"} }) : ($env->{"psgi.$_"} ? 1 : 0)) . "\n"
            for qw(version multithread multiprocess run_once nonblocking streaming);
        $out .= "psgi.url_scheme=$env->{'psgi.url_scheme'}\n";
        $out .= "psgi.input=" . (defined $env->{'psgi.input'} ? 1 : 0) . "\n";
        $out .= "psgi.errors=" . (defined $env->{'psgi.errors'} ? 1 : 0) . "\n";
        return $text->($out);
    }
    if ($path eq '/stream') {
        return sub {
            my $respond = shift;
            my $w = $respond->([200, ['Content-Type' => 'text/plain']]);
            $w->write("chunk$_\n") for 1 .. 3;
            $w->close;
        };
    }
    if ($path eq '/delayed') {
        return sub { $_[0]->([200, ['Content-Type' => 'text/plain'], ["delayed\n"]]) };
    }
    if ($path eq '/sleep') {
        my ($secs) = ($env->{QUERY_STRING} // '') =~ /([0-9.]+)/;
        select undef, undef, undef, $secs // 1;
        return $text->("slept $$\n");
    }
    if ($path eq '/pid') {
        return $text->("$$\n");
    }
    if ($path eq '/die') {
        die "the app died on purpose\n";
    }
    return $text->("Hello from test app pid $$\n");
};
