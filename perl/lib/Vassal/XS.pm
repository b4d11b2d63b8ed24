package Vassal::XS;
use strict;
use warnings;

our $VERSION = '0.01';

require XSLoader;
XSLoader::load('Vassal', $VERSION);

1;
__END__

=head1 NAME

Vassal::XS - XS glue of Vassal: descriptor passing, credentials, codec, prctl, the worker loop

=head1 SYNOPSIS

  use Vassal::XS;
  use POSIX ();
  use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);

  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
  pipe(my $r, my $w) or die $!;

  # play the Emperor: one packet, one descriptor
  my $pkt = Vassal::XS::packet_encode(35, 0x01,
      Vassal::XS::array_encode(['/usr/bin/psgi-vassal', '--ini', 'app.ini']));
  Vassal::XS::send_fds(fileno $a, $pkt, [fileno $w]);

  # play the fork server
  my $req = Vassal::XS::recv_request(fileno $b, 5);
  my @argv = Vassal::XS::array_decode($req->{body});
  POSIX::close($_) for @{ $req->{fds} };
  print "got @argv from pid $req->{pid}\n";

  # the worker's HTTP parser
  my %env;
  my $len = Vassal::XS::parse_http_request("GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", \%env);
  print "$len bytes: $env{PATH_INFO} $env{QUERY_STRING} $env{HTTP_HOST}\n";   # 36 bytes: /a b x=1 h

  # psgi.input
  my $input = Vassal::Input->new("line 1\nline 2\n");
  $input->read(my $buf, 4);              # 'line'
  $input->seek(0, 0);
  print $input->getline;                 # "line 1\n"

=head1 DESCRIPTION

All functions croak on error with a message that names what is wrong.

=over 4

=item recv_request($fd, $timeout_seconds)

Reads exactly one uwsgi packet (4-byte header plus the body it announces) from
the connected UNIX stream socket C<$fd>, collecting the C<SCM_RIGHTS>
descriptors that come with it (received close-on-exec; at most 8 are
accepted) and the peer's credentials (C<SO_PEERCRED>). The whole read is
bounded by C<$timeout_seconds>. Returns a hash reference
C<< {modifier1, modifier2, body, fds => [...], pid, uid, gid} >>. On timeout,
EOF mid-packet, too many descriptors or a read error it closes every
descriptor it received and croaks.

=item recv_request_nb($fd, $state)

The same, without waiting, for a server that reads many requests at once:
reads what has arrived (C<MSG_DONTWAIT>) and keeps it, with the descriptors,
in the scalar C<$state> (start with C<''>; the packet so far and a small
header, opaque). Returns the hash reference as C<recv_request> does once the
packet is complete, C<undef> while more is to come; on EOF, too many
descriptors or a read error it closes the descriptors received and croaks.
Never reads past the packet.

=item recv_request_abort($state)

Gives up a request C<recv_request_nb> was reading: closes the descriptors
received with it. Returns C<($have, $need)>, the bytes received and expected
so far (C<$need> is 4 until the header is in).

=item peer_cred($fd)

Returns C<($pid, $uid, $gid)> of the peer of a UNIX socket.

=item send_fds($fd, $bytes, \@fds)

One C<sendmsg> of C<$bytes> (at least one byte) with C<@fds> attached as one
C<SCM_RIGHTS> message. Returns the number of bytes sent.

=item packet_encode($modifier1, $modifier2, $body)

=item packet_decode($bytes)

Strict: returns C<($modifier1, $modifier2, $body)> or croaks with
C<malformed: truncated header ...>, C<malformed: truncated body ...> or
C<malformed: N trailing byte(s) ...>.

=item array_encode(\@items), array_decode($body)

=item dict_encode(\@pairs or \%hash), dict_decode($body)

Items are C<u16 LE length + bytes>. Decoders return flat lists and croak with
C<malformed: ... overruns the body ...> when an item overruns; a body longer
than 65535 bytes is refused by both directions. C<dict_encode> of a hash
encodes keys in sorted order.

=item set_pdeathsig($signum)

C<prctl(PR_SET_PDEATHSIG)>: the calling process gets C<$signum> when its parent dies.

=item set_child_subreaper($on = 1)

C<prctl(PR_SET_CHILD_SUBREAPER)>: orphaned descendants re-parent to the caller.

=item adoption_fork()

The double fork of an adoption: returns the first child's pid in the caller,
C<0> in the grandchild once the first child has exited (so that the grandchild
has been re-parented to the nearest subreaper: the Emperor), and never returns
in the first child, which forks and exits at once, in C. Dies when the first
C<fork> fails; a failed second fork makes the first child exit 1.

=item collapse_heap()

C<madvise(MADV_COLLAPSE)> over every 2 MiB-aligned stretch of the process's
private anonymous memory (the heap and malloc's arenas), so that a later
C<fork> copies a few hundred huge-page entries instead of tens of thousands of
4 KiB ones. Returns C<< {regions, bytes, failed, error} >>; C<error> is the
first failure's C<strerror> (C<EINVAL> where the kernel has no THP or is
older than Linux 6.1). It never dies.

=item set_cloexec($fd, $on)

Sets or clears C<FD_CLOEXEC> on C<$fd>.

=item fd_socket_info($fd)

What a descriptor is: C<< {socket => 1, domain, type, listening, kind} >> for
a socket, C<< {socket => 0, kind => 'a pipe' ...} >> otherwise, C<< {error} >>
when C<fstat> fails.

=back

=head2 The worker loop (vassal_loop.c, vassal_http.c)

=over 4

=item worker_run(\%options)

Runs a worker's accept/serve loop in C until SIGQUIT or SIGHUP (it stops
accepting, closes idle connections and returns once the requests under way,
heads or bodies still arriving included, are served with C<Connection:
close>), C<max_requests>, or a request that set
C<psgix.harakiri.commit>; returns the reason (C<graceful stop>,
C<the master is gone>, C<max-requests>, C<psgix.harakiri.commit>). See L<Vassal::Worker>, which
calls it. Options: C<app>; C<slow> (the Perl side of responses the C fast
path does not take, called as C<< slow->($conn, $env, $res) >>);
C<listeners> (C<[{fd, proto => 'http'|'uwsgi', unix, server_name,
server_port}, ...]>); C<socket_timeout> (4); C<keepalive_timeout> (the
same); C<header_timeout> (3 x C<socket_timeout>: the total time for a request
head, from the accept or a keep-alive connection's first byte after the
previous request); C<body_timeout> (300: the total time for a request
body, from the end of its head); C<buffer_size> (65536); C<limit_post> (1 GiB; 0: none); C<post_buffering>
(1048576); C<max_requests> (0: none); C<max_connections> (1024, and at most
the open-files limit less 64: the oldest waiting connection is closed for a
new one); C<status_fd> (the loop writes
C<A$pid\n> when it starts and C<S$pid\n> after its first response);
C<scoreboard> and C<slot>; C<name> (of the log prefix); C<tmpdir>;
C<master_pid> and C<orphan_timeout>: once the parent is no longer
C<master_pid> (checked when the loop starts and on every stop signal: the
master sets SIGQUIT as the worker's death signal) the loop stops accepting,
finishes the requests under way and returns C<the master is gone>, and a
timer kills the process (SIGKILL) C<orphan_timeout> seconds later if it is
still there.

Connections waiting for a request (or the rest of one) are kept in the
worker's epoll set beside the listening sockets (C<EPOLLEXCLUSIVE>), so that
a slow or idle client never holds the worker; a request whose head is
complete has its body read there too, before the app is called, and is
then served at once; every wait for the client is bounded by
C<socket_timeout>, the whole head by C<header_timeout> and the whole body
by C<body_timeout> (408); at most
4 empty lines before a request line, 400 beyond. Refused: a malformed request line or header field (400),
an HTTP version but 1.0 and 1.1 (505), a header section over C<buffer_size>
(431; a request line alone: 414), a body over C<limit_post> (413), a
Transfer-Encoding but chunked (501), Content-Length with chunked (400); the
connection is closed after the response. A uwsgi packet over
C<buffer_size>, malformed or with a modifier1 but 0 or 5 is dropped.

=item parse_http_request($bytes, \%env)

The worker's HTTP/1.x parser: fills C<%env> (REQUEST_METHOD, REQUEST_URI,
PATH_INFO decoded, QUERY_STRING, SERVER_PROTOCOL, CONTENT_LENGTH,
CONTENT_TYPE, HTTP_*; repeated headers joined with C<", ">) and returns the
length of the request head, -2 when it is incomplete, -1 when malformed (400),
-3 for an unsupported version (505), -4 for more than 128 header fields (431).

=item monotonic_now

C<CLOCK_MONOTONIC> in seconds, the scoreboard's clock.

=item scoreboard_new($n)

A C<Vassal::Scoreboard> of C<$n> slots in shared memory, created by a master
before it forks its workers; each worker writes its own slot. Methods:
C<size>, C<slot($i)> (C<< {pid, accepting, busy_since, last_done, requests} >>;
C<busy_since> is 0 when no request is in flight), C<reset($i)>.

=back

=head2 Vassal::Conn

The response in flight, as the Perl side of a response sees it (only valid
during its request; afterwards every method dies): C<send($status,
\@headers, \@body)> (a whole response), C<start($status, \@headers)> (the
head of a response of unknown length: chunked for HTTP/1.1, ended by the
connection for HTTP/1.0), C<write($data)>, C<finish>, C<no_keepalive>, and
the flags C<active>, C<started>, C<finished>, C<io_taken>, C<keepalive>. A
write error dies with C<write: ...>.

=head2 Vassal::Input

C<psgi.input>: a request body in memory or, over C<post_buffering>, in an
unlinked temporary file. C<new($bytes)>, C<read($buf, $len, $offset)>,
C<seek($pos, $whence)>, C<tell>, C<eof>, C<getline> and C<getlines> (by
C<$/>: a separator, C<undef>, or a record length), C<close>, C<fileno>
(undef in memory), C<opened>, C<binmode>.

=cut
