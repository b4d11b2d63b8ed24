package Vassal::ForkServer;
use strict;
use warnings;
use Errno qw(EINTR ECONNABORTED EAGAIN);
use POSIX ();
use Socket qw(AF_UNIX SOCK_STREAM SOMAXCONN);
use IO::Socket::UNIX;
use Time::HiRes ();
use Vassal::XS ();
use Vassal::Packet ();
use Vassal::Log qw(vlog);

our $VERSION = '0.01';

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        timeout    => 5,       # seconds to read one request
        backlog    => SOMAXCONN,
        chmod      => undef,   # chmod-socket: widen the default 0600
        allow_uids => [],      # fork-server-allow-uid: trusted besides ours and root
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
# away from the fork server (and the Emperor) that owns it.
sub listen {
    my ($self) = @_;
    my $path = $self->{path};
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

# Removes the socket file, only in the process that created it.
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
    my $emperor = $self->{emperor};
    if ($emperor) {
        $emperor->ready;
        $emperor->loyal;
    }
    local $SIG{PIPE} = 'IGNORE';
    my $stop;
    local $SIG{TERM} = sub { $stop = 'SIGTERM' };
    local $SIG{INT}  = sub { $stop = 'SIGINT' };
    # A handler (not the default disposition) so that a first child's exit
    # interrupts select() and is reaped at once, not at the next timeout.
    local $SIG{CHLD} = sub { };
    $0 = "psgi-vassal: fork-server [" . Vassal::Log->name . "]";

    my $lfd = fileno $self->{sock};
    while (!$stop) {
        my $rin = '';
        vec($rin, $lfd, 1) = 1;
        vec($rin, $emperor->fd, 1) = 1 if $emperor;
        # First children of adoptions, and, when we are init of a PID
        # namespace or a subreaper (a container's first process), orphaned
        # vassals that re-parented to us.
        $self->reap;
        my $n = select(my $rout = $rin, undef, undef, 1);
        if ($n < 0) {
            next if $! == EINTR;
            die "select: $!\n";
        }
        next unless $n;
        if ($emperor && vec($rout, $emperor->fd, 1)) {
            my $cmd = $emperor->read_command;
            next if defined $cmd && $cmd eq '';
            $stop = defined $cmd ? "byte $cmd from the Emperor" : 'EOF from the Emperor';
            last;
        }
        if (vec($rout, $lfd, 1)) {
            my $conn = $self->{sock}->accept;
            if (!$conn) {
                next if $! == EINTR || $! == ECONNABORTED || $! == EAGAIN;
                die "accept: $!\n";
            }
            $self->handle($conn);
        }
    }
    vlog("fork server exiting: $stop");
    $self->cleanup;
    return 0;
}

# Reads, checks and serves one request. Returns the adopted vassal's pid (as
# far as the fork server knows: the reply comes from it) or undef when refused.
sub handle {
    my ($self, $conn) = @_;
    my $req = eval { Vassal::XS::recv_request(fileno($conn), $self->{timeout}) };
    if (!$req) {
        (my $e = $@) =~ s/ at \S+ line \d+\.?\n?\z//;
        vlog("refused request: $e");
        return undef;
    }
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
    my $uid = $req->{uid};
    return $refuse->("peer uid ", $uid // 'unknown', " is neither ours ($>) nor root",
                     (@{ $self->{allow_uids} } ? " nor allowed (@{ $self->{allow_uids} })" : ''))
        unless defined $uid && $self->uid_allowed($uid);

    vlog("adopting: pid $req->{pid} uid $uid asks for [@argv] (mask ", sprintf('0x%02x', $req->{modifier2}), ")");
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
    # close the fork server's own socket (without removing its file) and Emperor pipe
    $self->{owner} = 0;
    $self->{first_children} = {};
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

Serves fork-server requests as PROTOCOL.md section 3 says. A request is read
with a timeout (L<Vassal::XS/recv_request>) and refused - logged with its
reason, its descriptors closed, the server keeps serving - when it is
malformed, its modifier1 is not 35, it carries no descriptor, its descriptor
count does not match its modifier2 mask, a descriptor is not what its place
says (the Emperor and config pipes must be connected UNIX stream sockets, the
on-demand socket a listening socket), or its peer's uid is neither ours nor
root nor one of C<allow_uids>. Otherwise the server forks twice
(L<Vassal::XS/adoption_fork>); it closes the descriptors and reaps the first
child, which only forks again and exits, in C. The grandchild waits until it
has been re-parented (so that the pid it reports is already the Emperor's
child when the Emperor is a subreaper), closes the fork server's socket and
Emperor pipe, sets C<UWSGI_EMPEROR_FD> (and C<UWSGI_EMPEROR_FD_CONFIG> for
0x02), C<dup2>s the on-demand socket (0x04) to fd 0, replies C<{pid => $$}> on
the request connection, closes it and calls
C<< on_adopt->(\@argv, {ondemand_fd, mask}) >>, whose return value is its
exit status.

Orphans that re-parent to the server (when it is the first process of a PID
namespace or a container) are reaped.

The server sends bytes 1 and 17 to its Emperor once listening, and exits
(removing its socket file) on any byte or EOF from it, or on SIGTERM/SIGINT.

=head1 METHODS

=over 4

=item new(path => $path, on_adopt => $cb, emperor => $emperor, timeout => $seconds, chmod => $octal, backlog => $n, allow_uids => [...])

C<chmod> (C<chmod-socket>) widens the socket's mode from 0600; C<allow_uids>
(C<fork-server-allow-uid>) are peer uids accepted besides ours and root's.

=item uid_allowed($uid)

=item listen, run, handle($conn), cleanup, path

=back

=cut
