package Vassal::ForkServer;
use strict;
use warnings;
use Errno qw(EINTR ECONNABORTED EAGAIN);
use File::Spec;
use POSIX ();
use Socket qw(AF_UNIX SOCK_STREAM SOMAXCONN MSG_DONTWAIT);
use IO::Socket::UNIX;
use Time::HiRes ();
use Vassal::XS ();
use Vassal::Packet ();
use Vassal::Listener ();
use Vassal::Log qw(vlog);

our $VERSION = '0.01';

# Connections whose request is being read at once, at most; one more drops
# the one that has waited longest. The same for refused connections, each
# lingering at most LINGER seconds (or LINGER_BYTES) before it is closed.
use constant MAX_PENDING   => 64;
use constant MAX_LINGERING => 64;
use constant LINGER        => 1;
use constant LINGER_BYTES  => 256 * 1024;

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        timeout    => 5,       # seconds to read one request
        backlog    => SOMAXCONN,
        chmod      => undef,   # chmod-socket: widen the default 0600
        allow_uids => [],      # fork-server-allow-uid: trusted besides ours and root
        inherit_fd => undef,   # a descriptor that may be our socket, bound by the Emperor (psgi-vassal: 0)
        %args,
    }, $class;
    die "Vassal::ForkServer needs path\n" unless defined $self->{path};
    die "Vassal::ForkServer needs on_adopt\n" unless $self->{on_adopt};
    return $self;
}

sub path { $_[0]{path} }

# Our own uid, root, and those of fork-server-allow-uid.
sub uid_allowed {
    my ($self, $uid) = @_;
    return 1 if $uid == $> || $uid == 0;
    return scalar grep { $_ == $uid } @{ $self->{allow_uids} };
}

# Binds the socket, mode 0600. A stale socket file is removed first; a live
# one is left alone: replacing it would silently take every later adoption
# away from the fork server (and the Emperor) that owns it. When inherit_fd
# is the socket listening at our path (the Emperor bound it and passes it to
# every generation of this base), that socket is used instead: nothing is
# bound, removed or chmod'ed, and its file is never removed (it is the
# Emperor's).
sub listen {
    my ($self) = @_;
    my $path = $self->{path};
    return $self->{sock} if defined $self->{inherit_fd} && $self->_use_inherited($self->{inherit_fd});
    if (-S $path) {
        if (IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)) {
            die "fork-server socket $path is in use: another fork server listens on it\n";
        }
        unlink $path or die "cannot remove stale fork-server socket $path: $!\n";
    }
    elsif (-e $path) {
        die "fork-server path $path exists and is not a socket\n";
    }
    my $old = umask 077;
    my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => $self->{backlog});
    my $err = $!;
    umask $old;
    die "cannot bind fork-server socket $path: $err\n" unless $sock;
    my $mode = defined $self->{chmod} ? oct $self->{chmod} : 0600;
    chmod $mode, $path or die "cannot chmod fork-server socket $path: $!\n";
    $self->{sock} = $sock;
    $self->{owner} = $$;
    vlog("fork server listening on $path");
    return $sock;
}

# Uses descriptor $fd when it is an AF_UNIX stream socket listening at our
# path; logs why not when it is another listening socket. Returns true if so.
sub _use_inherited {
    my ($self, $fd) = @_;
    my $path = $self->{path};
    my $info = Vassal::XS::fd_socket_info($fd);
    return 0 unless $info->{socket} && $info->{listening};
    my @addr = Vassal::Listener::fd_address($fd);
    my $unix = ($info->{domain} // -1) == AF_UNIX && ($info->{type} // -1) == SOCK_STREAM && @addr == 1;
    if (!$unix || !same_path($addr[0], $path)) {
        my $where = @addr == 2 ? "$addr[0]:$addr[1]" : length($addr[0] // '') ? $addr[0] : 'an unnamed address';
        vlog("fd $fd is a listening socket on $where, not the fork-server socket $path: left alone");
        return 0;
    }
    my $sock = IO::Socket::UNIX->new_from_fd($fd, 'r+')
        or die "cannot use the fork-server socket at fd $fd: $!\n";
    $self->{sock} = $sock;
    $self->{inherited} = $fd;    # no owner: cleanup leaves the file alone
    vlog("fork server on $path (inherited fd $fd, held by the Emperor)");
    vlog("chmod-socket $self->{chmod} not applied to the inherited fork-server socket: its mode is the Emperor's")
        if defined $self->{chmod};
    vlog("warning: the fork-server socket file $path is gone: no adoption can reach this fork server")
        unless -S $path;
    return 1;
}

# Does the socket address $bound name the fork-server path $path? Both are
# resolved against the current directory (as bind() resolves a relative
# path) and compared with '.', '..' and repeated slashes removed; failing
# that, they may still name the same socket file (a symlinked directory).
sub same_path {
    my ($bound, $path) = @_;
    return 0 unless defined $bound && length $bound && $bound !~ /\A\@/;
    my ($x, $y) = map { _normalize(File::Spec->rel2abs($_)) } $bound, $path;
    return 1 if $x eq $y;
    my @x = stat $x or return 0;
    my @y = stat $y or return 0;
    return $x[0] == $y[0] && $x[1] == $y[1];
}

sub _normalize {
    my @parts;
    for (split m{/+}, $_[0]) {
        next if $_ eq '' || $_ eq '.';
        if ($_ eq '..') { pop @parts } else { push @parts, $_ }
    }
    return '/' . join '/', @parts;
}

sub inherited { $_[0]{inherited} }

# Removes the socket file, only in the process that created it (never an
# inherited one's).
sub cleanup {
    my ($self) = @_;
    return unless $self->{sock} && $self->{owner} && $self->{owner} == $$;
    close delete $self->{sock};
    unlink $self->{path};
}

sub DESTROY { $_[0]->cleanup }

# Serves requests until the Emperor says anything (or goes away).
sub run {
    my ($self) = @_;
    $self->listen unless $self->{sock};
    # Several generations of a base may accept on one inherited socket: a
    # connection another one took must not leave us blocked in accept()
    # (O_NONBLOCK is on the socket, shared with its other holders).
    $self->{sock}->blocking(0);
    # fd 0 stays taken (by /dev/null if it was closed): a connection or a
    # descriptor received there would be lost when an adopted vassal's fd 0
    # is set
    if (defined(my $dup = POSIX::dup(0))) { POSIX::close($dup) }
    else { POSIX::open('/dev/null', POSIX::O_RDWR()) // die "cannot open /dev/null: $!\n" }
    my $emperor = $self->{emperor};
    local $SIG{PIPE} = 'IGNORE';
    my $stop;
    local $SIG{TERM} = sub { $stop = 'SIGTERM' };
    local $SIG{INT}  = sub { $stop = 'SIGINT' };
    # A handler (not the default disposition) so that a first child's exit
    # interrupts select() and is reaped at once, not at the next timeout.
    local $SIG{CHLD} = sub { };
    $0 = "psgi-vassal: fork-server [" . Vassal::Log->name . "]";

    my $lfd = fileno $self->{sock};
    # Connections whose request is still coming, by descriptor: each is read
    # as its bytes arrive, with its own deadline, so that no peer - a silent
    # one, a slow one - holds up the adoptions of the others.
    my $pending = $self->{pending} = {};
    my $lingering = $self->{lingering} = {};    # refused connections, closing (_refuse_peer)
    # Ready (1) - and loyal (17) - once listening, everything preloaded, and
    # nothing left but the accept loop: to an Emperor that passes the socket
    # to the next generation, 1 means "this one takes the adoptions now".
    if ($emperor) {
        $emperor->ready;
        $emperor->loyal;
    }
    while (!$stop) {
        my $rin = '';
        vec($rin, $lfd, 1) = 1;
        vec($rin, $emperor->fd, 1) = 1 if $emperor;
        vec($rin, $_, 1) = 1 for keys %$pending, keys %$lingering;
        # First children of adoptions, and, when we are init of a PID
        # namespace or a subreaper (a container's first process), orphaned
        # vassals that re-parented to us.
        $self->reap;
        my $wait = 1;
        for my $p (values %$pending, values %$lingering) {
            my $left = $p->{deadline} - Vassal::XS::monotonic_now();
            $wait = $left < 0 ? 0 : $left if $left < $wait;
        }
        my $n = select(my $rout = $rin, undef, undef, $wait);
        if ($n < 0) {
            next if $! == EINTR;
            die "select: $!\n";
        }
        # the Emperor first: once told to stop, accept nothing more (another
        # generation on the same socket takes what is waiting)
        if ($n && $emperor && vec($rout, $emperor->fd, 1)) {
            my $cmd = $emperor->read_command;
            if (!defined $cmd || $cmd ne '') {
                $stop = defined $cmd ? "byte $cmd from the Emperor" : 'EOF from the Emperor';
                last;
            }
        }
        if ($n) {
            vec($rout, $_, 1) && $self->_read($_) for keys %$pending;
            vec($rout, $_, 1) && $self->_linger($_) for keys %$lingering;
            $self->_accept if vec($rout, $lfd, 1);
        }
        $self->_expire;
    }
    vlog("fork server exiting: $stop");
    $self->_drop($_) for keys %$pending;
    %$lingering = ();
    $self->cleanup;
    return 0;
}

# Accepts a connection. A peer whose uid may not ask for vassals is refused
# at once, before anything is read from it (_refuse_peer); another one's
# request is read as it arrives (_read).
sub _accept {
    my ($self) = @_;
    my $conn = $self->{sock}->accept;
    if (!$conn) {
        # EAGAIN: another generation of the base took the connection
        return if $! == EINTR || $! == ECONNABORTED || $! == EAGAIN;
        die "accept: $!\n";
    }
    my ($pid, $uid) = eval { Vassal::XS::peer_cred(fileno $conn) };
    if (!defined $uid || !$self->uid_allowed($uid)) {
        vlog("refused request from pid ", $pid // '?', " uid ", $uid // '?', ": peer uid ", $uid // 'unknown',
             " is neither ours ($>) nor root",
             (@{ $self->{allow_uids} } ? " nor allowed (@{ $self->{allow_uids} })" : ''));
        return $self->_refuse_peer($conn);
    }
    my $pending = $self->{pending};
    $self->_drop(_oldest($pending), "more than " . MAX_PENDING . " requests being read at once: the oldest is dropped")
        if keys %$pending >= MAX_PENDING;
    $pending->{ fileno $conn } = {
        conn => $conn, state => '', deadline => Vassal::XS::monotonic_now() + $self->{timeout},
    };
    # the request usually came with the connection
    $self->_read(fileno $conn);
}

# A refused peer reads EOF at once: the write side is shut. What it sends is
# never looked at: it is read and dropped, without its descriptors (read
# with no room for them, they are never received), until it closes, for
# LINGER seconds or LINGER_BYTES - closing at once would reset the
# connection under a peer still sending, before it could read that EOF.
sub _refuse_peer {
    my ($self, $conn) = @_;
    my $lingering = $self->{lingering};
    delete $lingering->{ _oldest($lingering) } if keys %$lingering >= MAX_LINGERING;
    shutdown($conn, 1);
    $lingering->{ fileno $conn } = { conn => $conn, deadline => Vassal::XS::monotonic_now() + LINGER, bytes => 0 };
    $self->_linger(fileno $conn);
}

# Drops what refused connection $fd sent; closes it at its EOF, an error or
# LINGER_BYTES.
sub _linger {
    my ($self, $fd) = @_;
    my $l = $self->{lingering}{$fd} or return;
    while ($l->{bytes} < LINGER_BYTES) {
        my $from = recv($l->{conn}, my $junk, 65536, MSG_DONTWAIT);
        if (!defined $from) {
            return if $! == EAGAIN || $! == EINTR;
            last;
        }
        last unless length $junk;
        $l->{bytes} += length $junk;
    }
    delete $self->{lingering}{$fd};
}

# The key of the entry of %$set with the earliest deadline.
sub _oldest {
    my ($set) = @_;
    my ($oldest) = sort { $set->{$a}{deadline} <=> $set->{$b}{deadline} } keys %$set;
    return $oldest;
}

# Reads what has arrived of the request on pending connection $fd; serves it
# once it is complete.
sub _read {
    my ($self, $fd) = @_;
    my $p = $self->{pending}{$fd} or return;
    my $req = eval { Vassal::XS::recv_request_nb($fd, $p->{state}) };
    if (!$req) {
        return unless $@;    # more to come
        (my $e = $@) =~ s/ at \S+ line \d+\.?\n?\z//;
        vlog("refused request: $e");
        delete $self->{pending}{$fd};
        return;
    }
    delete $self->{pending}{$fd};
    $self->_serve($p->{conn}, $req);
}

# Refuses the pending connections whose time is up, closes the refused ones
# whose lingering is over.
sub _expire {
    my ($self) = @_;
    my $now = Vassal::XS::monotonic_now();
    for my $fd (keys %{ $self->{pending} }) {
        $self->_drop($fd, "timeout after $self->{timeout}s waiting for the request")
            if $self->{pending}{$fd}{deadline} <= $now;
    }
    for my $fd (keys %{ $self->{lingering} }) {
        delete $self->{lingering}{$fd} if $self->{lingering}{$fd}{deadline} <= $now;
    }
}

# Closes pending connection $fd and the descriptors that came with its
# request so far; logs why, if given, with how far the request got.
sub _drop {
    my ($self, $fd, $why) = @_;
    my $p = delete $self->{pending}{$fd} or return;
    my ($have, $need) = Vassal::XS::recv_request_abort($p->{state});
    return unless defined $why;
    my ($pid, $uid) = eval { Vassal::XS::peer_cred($fd) };
    vlog("refused request: $why (got $have of $need bytes) (peer pid ", $pid // '?', " uid ", $uid // '?', ")");
}

# Checks and serves a request read in full from $conn. Returns the adopted
# vassal's pid (as far as the fork server knows: the reply comes from it) or
# undef when refused.
sub _serve {
    my ($self, $conn, $req) = @_;
    my @fds = @{ $req->{fds} };
    my $refuse = sub {
        vlog("refused request from pid ", $req->{pid} // '?', " uid ", $req->{uid} // '?', ": ", @_);
        POSIX::close($_) for @fds;
        return undef;
    };
    my @argv = eval { Vassal::Packet::check_fork_request(@$req{qw(modifier1 modifier2 body)}) };
    if (my $e = $@) { chomp $e; return $refuse->($e) }
    return $refuse->("no descriptor attached") unless @fds;
    my $want = Vassal::Packet::fds_for_mask($req->{modifier2});
    return $refuse->(sprintf "descriptor mask 0x%02x announces %d descriptor(s), %d attached",
                     $req->{modifier2}, $want, scalar @fds)
        unless $want == @fds;
    if (defined(my $why = _check_fds($req->{modifier2}, @fds))) {
        return $refuse->($why);
    }

    vlog("adopting: pid $req->{pid} uid $req->{uid} asks for [@argv] (mask ", sprintf('0x%02x', $req->{modifier2}), ")");
    my $pid = eval { Vassal::XS::adoption_fork() };
    if (!defined $pid) {
        (my $e = $@) =~ s/ at \S+ line \d+\.?\n?\z//;
        return $refuse->($e);
    }
    if ($pid) {
        # The first child is reaped by the loop (reap), not waited for here:
        # its fork and exit would otherwise be on the path of every adoption
        # queued behind this one.
        POSIX::close($_) for @fds;
        close $conn;
        $self->{first_children}{$pid} = 1;
        return $pid;
    }
    # --- the vassal (the grandchild, re-parented to the Emperor): never returns
    my $ok = eval { $self->_adopted($conn, $req->{modifier2}, \@fds, \@argv); 1 };
    vlog("adoption failed: $@") unless $ok;
    POSIX::_exit(1);
}

# Reaps whatever child has exited without blocking; a first child that
# failed is logged (its adoption never replied).
sub reap {
    my ($self) = @_;
    while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
        my $first = delete $self->{first_children}{$pid};
        vlog("first child $pid exited with status ", $? >> 8) if $first && $?;
    }
}

# The Emperor pipe and the config pipe are connected AF_UNIX stream sockets
# (socketpairs), the on-demand socket a listening one: anything else cannot
# work, and is refused before anything is forked. Returns why, or undef.
sub _check_fds {
    my ($mask, @fds) = @_;
    my @roles = ('Emperor pipe');
    push @roles, 'config pipe' if $mask & Vassal::Packet::FD_CONFIG;
    push @roles, 'on-demand socket' if $mask & Vassal::Packet::FD_ONDEMAND;
    for my $i (0 .. $#fds) {
        my $role = $roles[$i];
        my $info = Vassal::XS::fd_socket_info($fds[$i]);
        return "the $role (descriptor $i) is unusable: $info->{error}" if $info->{error};
        return "the $role (descriptor $i) is $info->{kind}, not a socket" unless $info->{socket};
        if ($role eq 'on-demand socket') {
            return "the $role (descriptor $i) is not listening" unless $info->{listening};
        }
        else {
            return "the $role (descriptor $i) is not a UNIX stream socket"
                unless ($info->{domain} // -1) == Socket::AF_UNIX() && ($info->{type} // -1) == Socket::SOCK_STREAM();
            return "the $role (descriptor $i) is a listening socket, not a connected one" if $info->{listening};
        }
    }
    return undef;
}

sub _adopted {
    my ($self, $conn, $mask, $fds, $argv) = @_;
    $SIG{$_} = 'DEFAULT' for qw(TERM INT PIPE CHLD);
    # close the fork server's own socket (without removing its file) and Emperor
    # pipe, and the other requests it was reading, with their descriptors
    $self->{owner} = 0;
    $self->{first_children} = {};
    $self->_drop($_) for keys %{ $self->{pending} || {} };
    %{ $self->{lingering} || {} } = ();
    close $self->{sock};
    $self->{emperor}->close if $self->{emperor};
    delete $ENV{UWSGI_EMPEROR_FD_CONFIG};

    my @fds = @$fds;
    my $emperor_fd = shift @fds;
    $ENV{UWSGI_EMPEROR_FD} = $emperor_fd;
    if ($mask & Vassal::Packet::FD_CONFIG) {
        $ENV{UWSGI_EMPEROR_FD_CONFIG} = shift @fds;
    }
    my $ondemand;
    if ($mask & Vassal::Packet::FD_ONDEMAND) {
        my $fd = shift @fds;
        POSIX::dup2($fd, 0) // die "dup2($fd, 0): $!\n";
        POSIX::close($fd) if $fd != 0;
        $ondemand = 0;
    }
    else {
        # Not the base's fd 0 (the Emperor's fork-server socket, a held
        # socket, a terminal): the vassal would keep it open, and could take
        # it for a socket of its own.
        my $null = POSIX::open('/dev/null', POSIX::O_RDWR()) // die "cannot open /dev/null: $!\n";
        if ($null != 0) {
            POSIX::dup2($null, 0) // die "dup2(/dev/null, 0): $!\n";
            POSIX::close($null);
        }
    }
    my $reply = Vassal::Packet::encode_fork_reply($$);
    my $off = 0;
    while ($off < length $reply) {
        my $n = syswrite $conn, $reply, length($reply) - $off, $off;
        if (!defined $n) { next if $! == EINTR; die "cannot send the pid reply: $!\n" }
        $off += $n;
    }
    close $conn;
    my $rc = $self->{on_adopt}->($argv, { ondemand_fd => $ondemand, mask => $mask });
    POSIX::_exit($rc // 0);
}

1;
__END__

=head1 NAME

Vassal::ForkServer - the fork server of a base vassal (uWSGI 2.1 protocol)

=head1 SYNOPSIS

  use Vassal::ForkServer;
  use File::Temp qw(tempdir);

  my $dir = tempdir(CLEANUP => 1);
  my $fs = Vassal::ForkServer->new(
      path     => "$dir/fork.sock",
      emperor  => undef,                    # a Vassal::Emperor; run() stops on any byte or EOF
      timeout  => 5,
      on_adopt => sub { my ($argv, $info) = @_; print "vassal: @$argv\n"; return 0 },
  );
  $fs->listen;                              # mode 0600 (chmod => '660' widens it)
  printf "%o\n", (stat "$dir/fork.sock")[2] & 07777;   # 600
  $fs->cleanup;                             # removes the socket file
  # $fs->run;                               # serve requests

=head1 DESCRIPTION

Serves fork-server requests as PROTOCOL.md section 3 says. A connection
whose peer's uid (C<SO_PEERCRED>) is neither ours nor root nor one of
C<allow_uids> is refused as soon as it is accepted, before anything is read
from it: it is logged, the connection's write side is shut (the peer reads
EOF at once), and whatever the peer still sends is dropped unlooked-at -
its descriptors never even received - until it closes, for at most a
second, so that closing does not reset the connection before the peer
reads that EOF. Any other is read as its bytes arrive
(L<Vassal::XS/recv_request_nb>), beside the others, in the server's
C<select> loop - at most 64 at once (one more drops the one that has waited
longest), each with its own deadline of C<timeout> seconds from its
C<accept> - so that a peer that sends nothing, or half a request, holds up
no other adoption; only a complete request is served. A request is refused -
logged with its reason, its descriptors closed, the server keeps serving -
when its time is up, it is malformed, its modifier1 is not 35, it carries no
descriptor, its descriptor count does not match its modifier2 mask, or a
descriptor is not what its place says (the Emperor and config pipes must be
connected UNIX stream sockets, the on-demand socket a listening socket).
Otherwise the server forks twice
(L<Vassal::XS/adoption_fork>); it closes the descriptors and reaps the first
child, which only forks again and exits, in C. The grandchild waits until it
has been re-parented (so that the pid it reports is already the Emperor's
child when the Emperor is a subreaper), closes the fork server's socket and
Emperor pipe and every other connection the server was reading a request
from, with the descriptors received on it, sets C<UWSGI_EMPEROR_FD> (and C<UWSGI_EMPEROR_FD_CONFIG> for
0x02), C<dup2>s the on-demand socket (0x04) to fd 0 - without 0x04 fd 0
becomes F</dev/null>, so that the vassal never keeps (or serves) whatever
the base had there, such as the Emperor's fork-server socket (C<run> keeps
the server's own fd 0 open, on F</dev/null> if it was closed, so that no
connection or received descriptor is ever at 0) - replies
C<{pid => $$}> on the request connection, closes it and calls
C<< on_adopt->(\@argv, {ondemand_fd, mask}) >>, whose return value is its
exit status.

Orphans that re-parent to the server (when it is the first process of a PID
namespace or a container) are reaped.

=head2 The socket

C<listen> binds C<path> with mode 0600 (C<chmod> widens it), after removing
a stale socket file; it refuses a path where another fork server listens
(C<fork-server socket PATH is in use: another fork server listens on it>)
and one that exists and is not a socket.

With C<inherit_fd> (psgi-vassal passes 0), the socket may instead be the
Emperor's: when descriptor C<inherit_fd> is an AF_UNIX stream socket
listening at C<path> - its address and C<path>, both resolved against the
current directory as C<bind> resolves them, compared with C<.>, C<..> and
repeated slashes removed, or else naming the same socket file - the server
serves it as it is (logging C<fork server on PATH (inherited fd 0, held by
the Emperor)>): it binds nothing, removes nothing, does not refuse the path
as in use, leaves C<chmod> unapplied (the Emperor chose the mode, and may
own the file) and C<backlog> as the Emperor set it, and never removes the
socket file - not in C<cleanup>, not at exit on a byte, EOF or signal. A
server that bound its own socket removes its file as before. Another
listening socket at C<inherit_fd> is left alone (logged), and the path is
bound or refused as above.

The Emperor keeps that socket and passes it to every generation of the base,
so that during a deploy an old and a new generation accept on it together;
each connection (each adoption) goes to exactly one of them. The listening
socket is made non-blocking (C<O_NONBLOCK>, shared by every holder of the
socket) so that the generation that loses the race for a connection does not
wait in C<accept()>; the Emperor pipe is looked at before the socket, so a
generation told to stop accepts nothing more and exits at once, leaving what
waits in the backlog to the other one.

=head2 The Emperor pipe

The server sends byte 1 (ready), then 17 (loyal), once: after everything
was preloaded (the caller did that before C<run>) and the socket listens,
right before the accept loop - an Emperor that passes the socket to a new
generation reads 1 as "the new fork server takes adoptions", and may then
stop the old one. It exits on any byte or EOF from the Emperor, or on
SIGTERM/SIGINT, removing its socket file only when it bound it itself.

=head1 METHODS

=over 4

=item new(path => $path, on_adopt => $cb, emperor => $emperor, timeout => $seconds, chmod => $octal, backlog => $n, allow_uids => [...], inherit_fd => $fd)

C<chmod> (C<chmod-socket>) widens the socket's mode from 0600; C<allow_uids>
(C<fork-server-allow-uid>) are peer uids accepted besides ours and root's;
C<inherit_fd> is a descriptor that may be the Emperor's socket at C<path>
(default: none, always bind).

=item uid_allowed($uid)

=item listen, run, cleanup, path

=item inherited - the descriptor served when it is the Emperor's socket (C<inherit_fd>), else undef

=item same_path($bound, $path) - does the socket address C<$bound> name the path C<$path>?

=back

=cut
