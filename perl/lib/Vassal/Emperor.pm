package Vassal::Emperor;
use strict;
use warnings;
use POSIX ();
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Vassal::Log qw(vlog);

our $VERSION = '0.01';

# Vassal -> Emperor
use constant {
    READY     => 1,
    ACCEPTING => 5,
    LOYAL     => 17,
    HEARTBEAT => 26,
    STOP_ME   => 22,
    RECONFIG  => 2,
};
# Emperor -> vassal
use constant {
    CMD_STOP     => 0,
    CMD_RELOAD   => 1,
    CMD_GRACEFUL => 2,
};

# Returns an object for the pipe in $ENV{UWSGI_EMPEROR_FD}, or undef when
# there is no Emperor.
sub from_env {
    my ($class) = @_;
    my $fd = $ENV{UWSGI_EMPEROR_FD};
    return undef unless defined $fd && length $fd;
    die "UWSGI_EMPEROR_FD='$fd' is not a descriptor number\n" unless $fd =~ /\A[0-9]+\z/;
    return $class->new(fd => $fd);
}

sub new {
    my ($class, %args) = @_;
    my $fd = $args{fd};
    die "Vassal::Emperor->new needs fd\n" unless defined $fd;
    open my $fh, '+<&=', $fd or die "cannot open the Emperor pipe, fd $fd: $!\n";
    return bless { fd => $fd, fh => $fh, sent => {} }, $class;
}

sub fd { $_[0]{fd} }
sub fh { $_[0]{fh} }

sub send {
    my ($self, $byte) = @_;
    while (1) {
        my $n = syswrite $self->{fh}, chr($byte);
        return 1 if $n;
        next if $! == EINTR;
        vlog("cannot write byte $byte to the Emperor: $!");
        return 0;
    }
}

# Sends $byte only the first time it is asked to.
sub send_once {
    my ($self, $byte) = @_;
    return 0 if $self->{sent}{$byte}++;
    return $self->send($byte);
}

sub ready     { $_[0]->send_once(READY) }
sub accepting { $_[0]->send_once(ACCEPTING) }
sub loyal     { $_[0]->send_once(LOYAL) }
sub heartbeat { $_[0]->send(HEARTBEAT) }
sub stop_me   { $_[0]->send(STOP_ME) }

# Reads one command byte. Returns the byte, undef on EOF (or a hard error),
# or '' when nothing is there (after EINTR or EAGAIN). Call it when the pipe
# is readable.
sub read_command {
    my ($self) = @_;
    my $n = sysread $self->{fh}, my $buf, 1;
    if (!defined $n) {
        return '' if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
        vlog("error reading the Emperor pipe: $!");
        return undef;
    }
    return undef if $n == 0;
    return ord $buf;
}

# Closes our end (it is the Emperor's sign that we are gone).
sub close {
    my ($self) = @_;
    CORE::close($self->{fh}) if $self->{fh};
    delete $self->{fh};
}

1;
__END__

=head1 NAME

Vassal::Emperor - the one-byte Emperor pipe of a vassal (uWSGI 2.1)

=head1 SYNOPSIS

  use Vassal::Emperor;
  use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);

  socketpair(my $emperor_end, my $vassal_end, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
  local $ENV{UWSGI_EMPEROR_FD} = fileno $vassal_end;

  my $emperor = Vassal::Emperor->from_env;   # undef without UWSGI_EMPEROR_FD
  $emperor->ready;                           # byte 1 (once)
  $emperor->accepting;                       # byte 5 (once)
  $emperor->loyal;                           # byte 17 (once)

  syswrite $emperor_end, chr(Vassal::Emperor::CMD_GRACEFUL);
  my $cmd = $emperor->read_command;          # 2; undef on EOF

=head1 DESCRIPTION

Each message on the Emperor pipe is one byte. The vassal sends C<READY> (1),
C<ACCEPTING> (5), C<LOYAL> (17), C<HEARTBEAT> (26), C<STOP_ME> (22) and
C<RECONFIG> (2); the Emperor sends C<CMD_STOP> (0), C<CMD_RELOAD> (1) and
C<CMD_GRACEFUL> (2). EOF means the Emperor is gone.

=head1 METHODS

=over 4

=item from_env, new(fd => $fd)

=item fd, fh

=item send($byte), send_once($byte)

=item ready, accepting, loyal, heartbeat, stop_me

=item read_command - the byte, undef on EOF, '' when interrupted

=item close

=back

=cut
