package Vassal::Worker;
use strict;
use warnings;
use IO::Socket::INET ();    # psgix.io handles are blessed into these
use IO::Socket::UNIX ();
use IO::Handle ();
use File::Spec ();
use Vassal::XS ();
use Vassal::Log ();

our $VERSION = '0.01';

# Runs the worker loop (in C: Vassal::XS::worker_run) until a graceful stop,
# max-requests or psgix.harakiri.commit. Returns why it stopped.
#
#   app        the PSGI app
#   listeners  [Vassal::Listener, ...]
#   scoreboard, slot     this worker's slot (0-based)
#   status_fd  the pipe the master reads "A<pid>" / "S<pid>" from
#   socket_timeout, keepalive_timeout, header_timeout, body_timeout, buffer_size, limit_post,
#   post_buffering, max_requests, max_connections, defer_accept, underscores_in_headers
#   master_pid, orphan_timeout   stop once the master is gone, SIGKILL after that long
sub run {
    my ($class, %a) = @_;
    my %opts = (
        app       => $a{app},
        slow      => \&respond,
        listeners => [ map { $_->worker_info } @{ $a{listeners} } ],
        name      => Vassal::Log->name,
        tmpdir    => $ENV{TMPDIR} && -d $ENV{TMPDIR} ? $ENV{TMPDIR} : File::Spec->tmpdir,
    );
    for my $k (qw(scoreboard slot status_fd socket_timeout keepalive_timeout header_timeout body_timeout buffer_size
                  limit_post post_buffering max_requests max_connections defer_accept underscores_in_headers
                  master_pid orphan_timeout)) {
        $opts{$k} = $a{$k} if defined $a{$k};
    }
    return Vassal::XS::worker_run(\%opts);
}

# The Perl side of a response, for what the C fast path does not take: a
# delayed or streaming response (a code reference), a body that is a file
# handle or an object, anything that is not a plain string. $conn is the
# Vassal::Conn of the request in flight. Dies when the response cannot be
# sent; the worker then answers 500 (or cuts a response already started).
sub respond {
    my ($conn, $env, $res) = @_;
    if (ref $res eq 'ARRAY') {
        return _send($conn, $res);
    }
    if (ref $res eq 'CODE') {
        my $writer;
        $res->(sub {
            my ($r) = @_;
            die "the response was already started\n" if $conn->started;
            die "invalid response: " . _what($r) . " (expected [status, headers, body?])\n"
                unless ref $r eq 'ARRAY' && @$r >= 2;
            if (@$r >= 3 && defined $r->[2]) {
                _send($conn, $r);
                return;
            }
            $conn->start($r->[0], $r->[1]);
            return $writer = Vassal::Writer->new($conn);
        });
        # a blocking server: the response ends when the app returns
        $writer->close if $writer && !$writer->closed && $conn->active;
        die "the app's delayed response never called the responder\n"
            unless $conn->started || $conn->io_taken;
        return;
    }
    die "invalid response: " . _what($res) . " (expected an array or a code reference)\n";
}

sub _what {
    my ($v) = @_;
    return 'undef' unless defined $v;
    return ref $v ? ref($v) . ' reference' : "'$v'";
}

sub _send {
    my ($conn, $res) = @_;
    my ($status, $headers, $body) = @$res;
    die "invalid response: " . @$res . " element(s) (expected [status, headers, body])\n"
        unless @$res == 3;
    if (ref $body eq 'ARRAY') {
        $conn->send($status, $headers, $body);
        return;
    }
    die "invalid response: the body is " . _what($body) . "\n"
        unless ref $body && (Scalar::Util::reftype($body) eq 'GLOB' || Scalar::Util::blessed($body));
    $conn->start($status, $headers);
    local $/ = \65536;
    while (defined(my $chunk = $body->getline)) {
        $conn->write($chunk);
    }
    $body->close;
    $conn->finish;
    return;
}

require Scalar::Util;

package Vassal::Writer;
use strict;
use warnings;

# The writer a streaming app gets from the responder.
sub new { my ($class, $conn) = @_; bless { conn => $conn, closed => 0 }, $class }

sub write {
    my ($self, $data) = @_;
    die "write after close\n" if $self->{closed};
    $self->{conn}->write($data);
    return;
}

sub close {
    my ($self) = @_;
    return if $self->{closed}++;
    $self->{conn}->finish if $self->{conn}->active;
    return;
}

sub closed { $_[0]{closed} }

# psgi.nonblocking is false: poll_cb calls back until the writer is closed.
sub poll_cb {
    my ($self, $cb) = @_;
    $cb->($self) until $self->{closed};
    return;
}

1;
__END__

=head1 NAME

Vassal::Worker - one prefork worker: the C request loop and the Perl side of responses

=head1 SYNOPSIS

  use Vassal::Worker;
  use Vassal::Listener;
  use HTTP::Tiny;
  use POSIX ();

  my $l = Vassal::Listener->new(spec => '127.0.0.1:0', proto => 'http');
  $l->bind;
  my $app = sub { [200, ['Content-Type' => 'text/plain'], ["hello\n"]] };
  my $pid = fork // die "fork: $!";
  if (!$pid) {
      my $why = Vassal::Worker->run(app => $app, listeners => [$l], socket_timeout => 4);
      POSIX::_exit(0);    # $why: 'graceful stop'
  }
  my $res = HTTP::Tiny->new->get('http://127.0.0.1:' . $l->server_port . '/');
  print $res->{content};  # hello
  kill 'QUIT', $pid;      # a graceful stop
  waitpid $pid, 0;

=head1 DESCRIPTION

C<run> hands the app and the listening sockets to the worker loop in C
(L<Vassal::XS/worker_run>): it accepts connections on every listener
(HTTP/1.1 or the uwsgi protocol), parses requests, builds the PSGI env, calls
the app and writes the response - an array body of plain strings entirely in
C. It returns, with the reason, on SIGQUIT or SIGHUP or when its master is
gone (after the request in flight), after C<max_requests> requests, or after
a request that set C<psgix.harakiri.commit>.

C<respond($conn, $env, $res)> is the Perl side the loop calls for every other
response: delayed responses and the streaming writer (L</Vassal::Writer>),
bodies that are file handles or objects (read with C<getline> in 64 KiB
records), strings that are not plain. It writes through C<$conn>, a
C<Vassal::Conn> (see L<Vassal::XS>), and dies when the response is invalid:
the loop then answers 500, or cuts a response that was already started.

=head2 Vassal::Writer

The writer a streaming app gets: C<write($data)>, C<close>, and C<poll_cb($cb)>
(calls C<$cb> with the writer until it is closed: the server is blocking). A
writer not closed when the app returns is closed then.

=head1 METHODS

=over 4

=item run(app => $app, listeners => [...], %options)

Options: C<scoreboard> and C<slot>, C<status_fd>, C<socket_timeout>,
C<keepalive_timeout>, C<header_timeout>, C<body_timeout>, C<buffer_size>, C<limit_post>, C<post_buffering>,
C<max_requests>, C<max_connections>, C<defer_accept> (default true: C<TCP_DEFER_ACCEPT> of
C<socket_timeout> seconds on TCP listeners, as uWSGI sets unless
C<no-defer-accept>), C<underscores_in_headers> (default false: HTTP header
fields whose names have an underscore are dropped; see
C<http-underscores-in-headers> in L<psgi-vassal>), C<master_pid> and
C<orphan_timeout> (once its parent is
no longer C<master_pid> the worker accepts nothing more, finishes the request
in flight and returns C<the master is gone>; if it is still running
C<orphan_timeout> seconds later it is killed).

=item respond($conn, $env, $res)

=back

=cut
