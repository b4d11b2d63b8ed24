# The app the Vassal tests serve: one behaviour per path.
use strict;
use warnings;
use POSIX ();
use Time::HiRes ();
use Digest::SHA ();
use Plack::Util;

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
    if ($path eq '/slow') {
        # sleeps the whole time, even through signals (a graceful stop)
        my ($secs) = ($env->{QUERY_STRING} // '') =~ /([0-9.]+)/;
        my $until = Time::HiRes::time() + ($secs // 1);
        while ((my $left = $until - Time::HiRes::time()) > 0) { select undef, undef, undef, $left }
        return $text->("slow $$\n");
    }
    if ($path eq '/pid') {
        return $text->("$$\n");
    }
    if ($path eq '/die') {
        die "the app died on purpose\n";
    }
    if ($path eq '/exit') {
        POSIX::_exit(3);    # a worker that dies anyway
    }
    if ($path eq '/input') {
        my $in = $env->{'psgi.input'};
        my $body = '';
        while ($in->read(my $buf, 1000)) { $body .= $buf }
        $in->seek(0, 0);
        $in->read(my $again, 5);
        my $spooled = defined $in->fileno ? 1 : 0;
        return $text->(join '', "class=", ref $in, "\nlength=", length $body, "\nbuffered=",
                       ($env->{'psgix.input.buffered'} ? 1 : 0), "\nspooled=$spooled\nfirst5=$again\n",
                       "sha1=", Digest::SHA::sha1_hex($body), "\n");
    }
    if ($path eq '/fh') {
        open my $fh, '<', \"line 1\nline 2\n" or die $!;
        return [200, ['Content-Type' => 'text/plain'], $fh];
    }
    if ($path eq '/object') {
        my @lines = ("one\n", "two\n");
        return [200, ['Content-Type' => 'text/plain'],
                Plack::Util::inline_object(getline => sub { shift @lines }, close => sub {})];
    }
    if ($path eq '/cleanup') {
        my $file = $env->{QUERY_STRING};
        push @{ $env->{'psgix.cleanup.handlers'} }, sub {
            open my $fh, '>', $file or return;
            print $fh "cleaned up after the response in $$\n";
        };
        return $text->("cleanup registered: " . ($env->{'psgix.cleanup'} ? 1 : 0) . "\n");
    }
    if ($path eq '/harakiri') {
        $env->{'psgix.harakiri.commit'} = 1 if $env->{'psgix.harakiri'};
        return $text->("bye from $$\n");
    }
    if ($path eq '/hijack') {
        return sub {
            my $io = $env->{'psgix.io'};
            print {$io} "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhijacked by $$ via " . ref($io) . "\n";
            close $io;
        };
    }
    if ($path eq '/writer-unclosed') {
        return sub {
            my $w = $_[0]->([200, ['Content-Type' => 'text/plain']]);
            $w->write("not closed\n");
        };
    }
    if ($path eq '/bad-header') {
        return [200, ['Content-Type' => "text/plain\r\nX-Injected: 1"], ["no\n"]];
    }
    if ($path eq '/bad-status') {
        return ['OK', ['Content-Type' => 'text/plain'], ["no\n"]];
    }
    if ($path eq '/not-a-response') {
        return "a string";
    }
    if ($path eq '/wide') {
        return [200, ['Content-Type' => 'text/plain'], ["\x{263a}\n"]];
    }
    if ($path eq '/latin1-utf8') {
        my $s = "caf\x{e9}\n";
        utf8::upgrade($s);
        return [200, ['Content-Type' => 'text/plain'], [$s]];
    }
    if ($path eq '/big') {
        my ($n) = ($env->{QUERY_STRING} // '') =~ /([0-9]+)/;
        return [200, ['Content-Type' => 'text/plain'], ['x' x ($n // 100_000)]];
    }
    if ($path eq '/procname') {
        return $text->("$0\n");
    }
    return $text->("Hello from test app pid $$\n");
};
