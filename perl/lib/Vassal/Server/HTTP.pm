package Vassal::Server::HTTP;
use strict;
use warnings;
use Errno qw(EINTR EAGAIN EWOULDBLOCK ECONNABORTED);
use Socket qw(IPPROTO_TCP TCP_NODELAY SOL_SOCKET SO_SNDTIMEO AF_INET AF_INET6
              unpack_sockaddr_in unpack_sockaddr_in6 sockaddr_family inet_ntop);
use HTTP::Parser::XS qw(parse_http_request);
use HTTP::Status ();
use HTTP::Date ();
use Plack::Util;
use Stream::Buffered;
use POSIX ();
use Time::HiRes ();
use Vassal::Log qw(vlog);

our $VERSION = '0.01';

use constant MAX_HEADER_BYTES => 65536;
use constant CRLF => "\015\012";

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        keepalive_timeout  => 5,
        read_timeout       => 30,
        write_timeout      => 30,
        max_keepalive_reqs => 100,
        server_name        => 'localhost',
        server_port        => 80,
        on_accepting       => undef,    # called once, before the first accept
        on_served          => undef,    # called after each response is written
        %args,
        can_exit           => 1,
        exiting            => 0,
    }, $class;
    die "Vassal::Server::HTTP needs app and listen\n" unless $self->{app} && $self->{listen};
    return $self;
}

# Asks the worker to stop after the request in flight (at once when idle).
# Meant to be called from a signal handler.
sub graceful_exit {
    my ($self) = @_;
    $self->{exiting} = 1;
    POSIX::_exit(0) if $self->{can_exit};
}

sub exiting { $_[0]{exiting} }

# The worker's accept loop; returns when the worker should exit.
sub run {
    my ($self) = @_;
    my $listen = $self->{listen};
    $self->{on_accepting}->() if $self->{on_accepting};
    while (!$self->{exiting}) {
        $self->{can_exit} = 1;
        my $peer = accept(my $conn, $listen);
        $self->{can_exit} = 0;
        if (!$peer) {
            next if $! == EINTR || $! == ECONNABORTED || $! == EAGAIN || $! == EWOULDBLOCK;
            vlog("accept failed: $!");
            select undef, undef, undef, 0.1;
            next;
        }
        eval { $self->handle_connection($conn, $peer); 1 }
            or vlog("connection error: $@");
        close $conn;
    }
    return;
}

sub _peer {
    my ($peer) = @_;
    my $family = eval { sockaddr_family($peer) } // -1;
    if ($family == AF_INET) {
        my ($port, $addr) = unpack_sockaddr_in($peer);
        return (inet_ntop(AF_INET, $addr), $port);
    }
    if ($family == AF_INET6) {
        my ($port, $addr) = unpack_sockaddr_in6($peer);
        return (inet_ntop(AF_INET6, $addr), $port);
    }
    return ('', 0);
}

sub handle_connection {
    my ($self, $conn, $peer) = @_;
    my ($remote_addr, $remote_port) = _peer($peer);
    setsockopt($conn, IPPROTO_TCP, TCP_NODELAY, 1);
    setsockopt($conn, SOL_SOCKET, SO_SNDTIMEO, pack('l!l!', $self->{write_timeout}, 0));

    my $buf = '';
    my $nreq = 0;
    while (1) {
        my %env = (
            SERVER_NAME            => $self->{server_name},
            SERVER_PORT            => $self->{server_port},
            REMOTE_ADDR            => $remote_addr,
            REMOTE_PORT            => $remote_port,
            SCRIPT_NAME            => '',
            'psgi.version'         => [1, 1],
            'psgi.errors'          => *STDERR,
            'psgi.url_scheme'      => 'http',
            'psgi.run_once'        => Plack::Util::FALSE,
            'psgi.multithread'     => Plack::Util::FALSE,
            'psgi.multiprocess'    => Plack::Util::TRUE,
            'psgi.streaming'       => Plack::Util::TRUE,
            'psgi.nonblocking'     => Plack::Util::FALSE,
            'psgix.input.buffered' => Plack::Util::TRUE,
            'psgix.io'             => $conn,
            'psgix.harakiri'       => Plack::Util::TRUE,
        );

        # --- the request line and headers
        my $reqlen;
        while (1) {
            if (length $buf) {
                $reqlen = parse_http_request($buf, \%env);
                last if $reqlen >= 0;
                if ($reqlen == -1) {
                    $self->_bad_request($conn, 'malformed request');
                    return;
                }
                if (length $buf > MAX_HEADER_BYTES) {
                    $self->_bad_request($conn, 'request header too large', 431);
                    return;
                }
            }
            my $idle = $nreq > 0 && !length $buf;
            $self->{can_exit} = 1 if $idle;
            POSIX::_exit(0) if $idle && $self->{exiting};
            my $n = $self->_read($conn, \$buf, $idle ? $self->{keepalive_timeout} : $self->{read_timeout});
            $self->{can_exit} = 0;
            return unless $n;    # EOF, timeout or error: just close
        }
        substr($buf, 0, $reqlen, '');
        $nreq++;

        my $protocol = $env{SERVER_PROTOCOL} // 'HTTP/1.0';
        if ($protocol !~ m{\AHTTP/1\.[01]\z}) {
            $self->_bad_request($conn, "unsupported protocol '$protocol'", 505);
            return;
        }

        # --- the body
        my $body_ok = eval { $self->_read_body($conn, \%env, \$buf); 1 };
        if (!$body_ok) {
            my $e = $@;
            return if $e =~ /\A(?:EOF|timeout)\b/;
            chomp $e;
            $self->_bad_request($conn, $e);
            return;
        }

        # --- keep-alive decision (before the app, which may not change it but to close)
        my $conn_hdr = lc($env{HTTP_CONNECTION} // '');
        my $keepalive = $protocol eq 'HTTP/1.1' ? $conn_hdr !~ /\bclose\b/ : $conn_hdr =~ /\bkeep-alive\b/;
        $keepalive = 0 if $nreq >= $self->{max_keepalive_reqs} || $self->{exiting};

        my $res = Plack::Util::run_app($self->{app}, \%env);
        my $ok = eval {
            if (ref $res eq 'ARRAY') {
                $keepalive = $self->_write_response($conn, \%env, $res, $keepalive);
            }
            elsif (ref $res eq 'CODE') {
                $keepalive = $self->_run_streaming($conn, \%env, $res, $keepalive);
            }
            else {
                vlog("the app returned neither an array nor a code reference: ", $res // 'undef');
                $self->_write_response($conn, \%env, _error_res(500), 0);
                $keepalive = 0;
            }
            1;
        };
        if (!$ok) {
            vlog("writing the response failed: $@") unless $@ =~ /\Awrite: /;
            $keepalive = 0;
        }
        $env{'psgi.input'} = undef;
        $self->{on_served}->() if $self->{on_served};
        if ($env{'psgix.harakiri.commit'}) {
            $self->{exiting} = 1;
            $keepalive = 0;
        }
        return unless $keepalive && !$self->{exiting};
    }
}

# Reads more bytes into $$bufref within $timeout. Returns the count, 0 on EOF
# or timeout, undef on error.
sub _read {
    my ($self, $conn, $bufref, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        my $rin = '';
        vec($rin, fileno($conn), 1) = 1;
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left < 0;
        my $nfound = select(my $rout = $rin, undef, undef, $left > 0 ? $left : 0.001);
        if ($nfound < 0) {
            next if $! == EINTR;
            return undef;
        }
        return 0 if $nfound == 0 && Time::HiRes::time() >= $deadline;
        next unless $nfound;
        my $n = sysread($conn, $$bufref, 65536, length $$bufref);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return undef;
        }
        return $n;
    }
}

sub _need {
    my ($self, $conn, $bufref, $what) = @_;
    my $n = $self->_read($conn, $bufref, $self->{read_timeout});
    unless ($n) {
        die defined $n ? "EOF or timeout reading $what\n" : "EOF: read error ($!) reading $what\n";
    }
    return $n;
}

sub _read_body {
    my ($self, $conn, $env, $bufref) = @_;
    my $te = $env->{HTTP_TRANSFER_ENCODING};
    my $chunked = defined $te && $te =~ /\bchunked\s*\z/i;
    if (defined $te && !$chunked) {
        die "unsupported Transfer-Encoding '$te'\n";
    }
    my $cl = $env->{CONTENT_LENGTH};
    if (!$chunked && defined $cl && $cl !~ /\A[0-9]+\z/) {
        die "invalid Content-Length '$cl'\n";
    }
    my $has_body = $chunked || ($cl // 0) > 0;
    if (!$has_body) {
        $env->{'psgi.input'} = Stream::Buffered->new(0)->rewind;
        return;
    }
    if (($env->{HTTP_EXPECT} // '') =~ /\A100-continue\z/i && $env->{SERVER_PROTOCOL} eq 'HTTP/1.1'
        && !length $$bufref) {
        $self->_write_all($conn, "HTTP/1.1 100 Continue" . CRLF . CRLF);
    }
    my $buffer = Stream::Buffered->new($chunked ? 0 : $cl);
    if ($chunked) {
        my $total = 0;
        while (1) {
            while ($$bufref !~ /\A[0-9a-fA-F]+[^\015\012]*\015\012/) {
                die "malformed chunk size line\n"
                    if $$bufref =~ /\A(?![0-9a-fA-F])./s || length $$bufref > 1024;
                $self->_need($conn, $bufref, 'the chunk size');
            }
            $$bufref =~ s/\A([0-9a-fA-F]+)(?:;[^\015\012]*)?\015\012//
                or die "malformed chunk size line\n";
            my $hex = $1;
            die "chunk size too large\n" if length $hex > 8;
            my $size = hex $hex;
            if ($size == 0) {
                # trailers, then an empty line
                while ($$bufref !~ /\A(?:[^\015\012]+\015\012)*\015\012/) {
                    die "trailer too large\n" if length $$bufref > MAX_HEADER_BYTES;
                    $self->_need($conn, $bufref, 'the chunked trailer');
                }
                $$bufref =~ s/\A(?:[^\015\012]+\015\012)*\015\012//;
                last;
            }
            while (length $$bufref < $size + 2) {
                if (length $$bufref > $size) {
                    $self->_need($conn, $bufref, 'a chunk');
                    next;
                }
                # stream big chunks into the buffer as they come
                $buffer->print($$bufref);
                $size  -= length $$bufref;
                $total += length $$bufref;
                $$bufref = '';
                $self->_need($conn, $bufref, 'a chunk');
            }
            $buffer->print(substr($$bufref, 0, $size));
            $total += $size;
            die "chunk not followed by CRLF\n" unless substr($$bufref, $size, 2) eq CRLF;
            substr($$bufref, 0, $size + 2, '');
        }
        delete $env->{HTTP_TRANSFER_ENCODING};
        $env->{CONTENT_LENGTH} = $total;
    }
    else {
        my $left = $cl;
        while ($left > 0) {
            $self->_need($conn, $bufref, 'the request body') unless length $$bufref;
            my $take = length $$bufref < $left ? length $$bufref : $left;
            $buffer->print(substr($$bufref, 0, $take, ''));
            $left -= $take;
        }
    }
    $env->{'psgi.input'} = $buffer->rewind;
    return;
}

sub _write_all {
    my ($self, $conn, $data) = @_;
    my $off = 0;
    my $len = length $data;
    while ($off < $len) {
        my $n = syswrite($conn, $data, $len - $off, $off);
        if (defined $n) {
            $off += $n;
            next;
        }
        next if $! == EINTR;
        die "write: timeout\n" if $! == EAGAIN || $! == EWOULDBLOCK;
        die "write: $!\n";
    }
    return;
}

sub _error_res {
    my ($status) = @_;
    my $msg = HTTP::Status::status_message($status) // 'Error';
    return [$status, ['Content-Type' => 'text/plain', 'Content-Length' => length($msg) + 1], ["$msg\n"]];
}

sub _bad_request {
    my ($self, $conn, $reason, $status) = @_;
    $status ||= 400;
    vlog("bad request: $reason");
    my $res = _error_res($status);
    my $head = "HTTP/1.1 $status " . HTTP::Status::status_message($status) . CRLF
        . "Connection: close" . CRLF . "Content-Type: text/plain" . CRLF
        . "Content-Length: " . $res->[1][3] . CRLF . CRLF . $res->[2][0];
    eval { $self->_write_all($conn, $head) };
    return;
}

# Builds and writes the status line and headers. Returns ($chunked, $keepalive).
sub _write_head {
    my ($self, $conn, $env, $status, $headers, $keepalive, $body) = @_;
    my $protocol = $env->{SERVER_PROTOCOL} eq 'HTTP/1.1' ? 'HTTP/1.1' : 'HTTP/1.0';
    my $head_req = $env->{REQUEST_METHOD} eq 'HEAD';
    my $no_body = Plack::Util::status_with_no_entity_body($status);
    my ($has_cl, $has_te, $has_date) = (0, 0, 0);
    my $out = '';
    die "invalid status '$status'\n" unless defined $status && $status =~ /\A[1-9][0-9]{2}\z/;
    for (my $i = 0; $i < @$headers; $i += 2) {
        my ($k, $v) = ($headers->[$i], $headers->[$i + 1]);
        $v = '' unless defined $v;
        die "invalid header name '$k'\n" unless defined $k && $k =~ /\A[!#\$%&'*+\-.^_`|~0-9A-Za-z]+\z/;
        die "invalid value of header '$k'\n" if $v =~ /[\015\012]/;
        my $lk = lc $k;
        if    ($lk eq 'content-length')    { $has_cl = 1 }
        elsif ($lk eq 'transfer-encoding') { $has_te = 1 }
        elsif ($lk eq 'date')              { $has_date = 1 }
        elsif ($lk eq 'connection') {
            $keepalive = 0 if $v =~ /\bclose\b/i;
            next;    # we write our own Connection header
        }
        $out .= "$k: $v" . CRLF;
    }
    if (!$has_cl && !$has_te && !$no_body && ref $body eq 'ARRAY') {
        my $cl = 0;
        $cl += length $_ for grep defined, @$body;
        $out .= "Content-Length: $cl" . CRLF;
        $has_cl = 1;
    }
    my $chunked = 0;
    if (!$has_cl && !$has_te && !$no_body) {
        if ($head_req) {
            # no body follows a HEAD response, so the connection can stay open
        }
        elsif ($protocol eq 'HTTP/1.1') {
            $chunked = 1;
            $out .= "Transfer-Encoding: chunked" . CRLF;
        }
        else {
            $keepalive = 0;    # the body ends when the connection closes
        }
    }
    $keepalive = 0 if $has_te && !$head_req && !$no_body;    # the app frames its own body
    $keepalive = 0 if $self->{exiting};                      # a graceful stop is under way
    $out .= 'Date: ' . HTTP::Date::time2str() . CRLF unless $has_date;
    if ($keepalive) {
        $out .= "Connection: keep-alive" . CRLF if $protocol eq 'HTTP/1.0';
    }
    else {
        $out .= "Connection: close" . CRLF;
    }
    my $message = HTTP::Status::status_message($status) // 'Unknown';
    return ("$protocol $status $message" . CRLF . $out . CRLF, $chunked, $keepalive,
            $head_req || $no_body);
}

sub _write_response {
    my ($self, $conn, $env, $res, $keepalive) = @_;
    my ($status, $headers, $body) = @$res;
    my ($head, $chunked, $ka, $skip_body) = $self->_write_head($conn, $env, $status, $headers || [], $keepalive, $body);
    if ($skip_body) {
        $self->_write_all($conn, $head);
        Plack::Util::foreach($body, sub {}) if ref $body ne 'ARRAY' && defined $body;
        return $ka;
    }
    if (ref $body eq 'ARRAY') {
        my $data = join '', grep defined, @$body;
        $data = sprintf('%x', length $data) . CRLF . $data . CRLF . '0' . CRLF . CRLF
            if $chunked && length $data;
        $data = '0' . CRLF . CRLF if $chunked && !length $data;
        $self->_write_all($conn, $head . $data);
        return $ka;
    }
    $self->_write_all($conn, $head);
    Plack::Util::foreach($body, sub {
        my $chunk = shift;
        return unless defined $chunk && length $chunk;
        $self->_write_all($conn, $chunked ? sprintf('%x', length $chunk) . CRLF . $chunk . CRLF : $chunk);
    });
    $self->_write_all($conn, '0' . CRLF . CRLF) if $chunked;
    return $ka;
}

sub _run_streaming {
    my ($self, $conn, $env, $res, $keepalive) = @_;
    my $state = { started => 0, closed => 0, chunked => 0, skip => 0 };
    my $writer;
    my $responder = sub {
        my ($r) = @_;
        die "the response was already started\n" if $state->{started}++;
        if (defined $r->[2]) {
            $keepalive = $self->_write_response($conn, $env, $r, $keepalive);
            $state->{closed} = 1;
            return;
        }
        my ($head, $chunked, $ka, $skip) = $self->_write_head($conn, $env, $r->[0], $r->[1] || [], $keepalive, undef);
        @$state{qw(chunked skip)} = ($chunked, $skip);
        $keepalive = $ka;
        $self->_write_all($conn, $head);
        $writer = Plack::Util::inline_object(
            write => sub {
                my $chunk = shift;
                die "write after close\n" if $state->{closed};
                return if $state->{skip} || !defined $chunk || !length $chunk;
                $self->_write_all($conn, $state->{chunked}
                    ? sprintf('%x', length $chunk) . CRLF . $chunk . CRLF : $chunk);
            },
            close => sub {
                return if $state->{closed}++;
                $self->_write_all($conn, '0' . CRLF . CRLF) if $state->{chunked} && !$state->{skip};
            },
            poll_cb => sub {
                my $cb = shift;
                $cb->($writer) until $state->{closed};
            },
        );
        return $writer;
    };
    my $ok = eval { $res->($responder); 1 };
    my $err = $@;
    if (!$state->{started}) {
        vlog("the app died before responding: $err") unless $ok;
        vlog("the app's delayed response never called the responder") if $ok;
        $self->_write_response($conn, $env, _error_res(500), 0);
        return 0;
    }
    if (!$ok) {
        die $err if $err =~ /\Awrite: /;
        vlog("the app died while streaming: $err");
        return 0;    # the response is cut: close the connection
    }
    # a blocking server: the response ends when the app returns
    $writer->close if $writer && !$state->{closed};
    return $keepalive;
}

1;
__END__

=head1 NAME

Vassal::Server::HTTP - the HTTP/1.1 side of a Vassal worker

=head1 SYNOPSIS

  use Vassal::Server::HTTP;
  use IO::Socket::INET;

  my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 5, ReuseAddr => 1) or die $!;
  my $http = Vassal::Server::HTTP->new(
      app         => sub { [200, ['Content-Type' => 'text/plain'], ["hi\n"]] },
      listen      => $listen,
      server_name => '127.0.0.1',
      server_port => $listen->sockport,
  );
  # $http->run;   # the worker's accept loop: runs until graceful_exit

=head1 DESCRIPTION

One worker's accept loop and connection handler: HTTP/1.0 and 1.1 parsed with
L<HTTP::Parser::XS>, keep-alive (up to C<max_keepalive_reqs> requests,
C<keepalive_timeout> seconds idle), request bodies with Content-Length or
chunked transfer coding (buffered with L<Stream::Buffered>; C<Expect:
100-continue> honoured), HEAD, responses with Content-Length or chunked,
delayed and streaming responses (C<psgi.streaming>), C<psgix.io> and
C<psgix.harakiri>. A malformed request gets a 400 and the connection is closed.

=head1 METHODS

=over 4

=item new(app => $app, listen => $socket, %options)

Options: C<server_name>, C<server_port>, C<keepalive_timeout> (5),
C<read_timeout> (30), C<write_timeout> (30), C<max_keepalive_reqs> (100),
C<on_accepting> (called once before the first accept), C<on_served> (called
after each response).

=item run

Accepts and serves connections until asked to exit.

=item graceful_exit

For a signal handler: exit at once when idle, or after the request in flight.

=item handle_connection($conn, $peer_sockaddr)

=back

=cut
