package Vassal::Listener;
use strict;
use warnings;
use Socket qw(AF_INET AF_INET6 AF_UNIX SOCK_STREAM SOL_SOCKET SO_REUSEADDR SO_ACCEPTCONN IPPROTO_TCP TCP_NODELAY
              pack_sockaddr_un unpack_sockaddr_in unpack_sockaddr_in6 sockaddr_family inet_ntop);
use IO::Socket::IP;
use IO::Socket::UNIX;
use Vassal::XS ();

our $VERSION = '0.01';

# What each protocol is called in the options and in the env var that carries
# listening sockets across a reload.
my %OPTION_OF = (http => 'http-socket', uwsgi => 'socket');

# new(spec => 'host:port' | '/path' | '@abstract' | 'fd://N', proto => 'http' | 'uwsgi',
#     backlog => 100, chmod => '660')
sub new {
    my ($class, %args) = @_;
    my $self = bless { backlog => 100, proto => 'http', %args }, $class;
    die "Vassal::Listener: proto must be http or uwsgi\n" unless $OPTION_OF{ $self->{proto} };
    if (defined $self->{spec} && $self->{spec} =~ m{\Afd://([0-9]+)\z}) {
        # uWSGI's fd://N: serve descriptor N, already listening, instead of binding
        my $fd = $1 + 0;
        my $why = not_listening($fd);
        die "cannot use $OPTION_OF{ $self->{proto} } fd://$fd: $why\n" if $why;
        $self->{named_fd} = $fd;
        $self->adopt_fd($fd);
        return $self;
    }
    @$self{qw(kind host port path)} = parse_spec($self->{spec}, $OPTION_OF{ $self->{proto} });
    return $self;
}

# Why descriptor $fd is not a listening socket ('fd N is not open', ...),
# or undef when it is one. Looks at a dup(), never at $fd itself.
sub not_listening {
    my ($fd) = @_;
    open(my $probe, '<&', $fd) or return "fd $fd is not open";
    my $on = getsockopt($probe, SOL_SOCKET, SO_ACCEPTCONN);
    my $err = $!;
    close $probe;
    return "fd $fd is not a socket ($err)" unless defined $on;
    return "fd $fd is a socket that is not listening" unless unpack 'i', $on;
    return undef;
}

# uWSGI's rule: a spec with a colon that does not start with / or @ is TCP
# (host:port, :port, [v6]:port); anything else is a UNIX socket path, @name
# an abstract one.
sub parse_spec {
    my ($spec, $option) = @_;
    $option //= 'socket';
    die "invalid $option address: empty\n" unless defined $spec && length $spec;
    if ($spec !~ m{\A[/@.]} && $spec =~ /:/) {
        if ($spec =~ /\A\[([^\]]+)\]:([0-9]{1,5})\z/ || $spec =~ /\A([^:\[\]]*):([0-9]{1,5})\z/) {
            my ($host, $port) = ($1, $2);
            die "invalid $option address '$spec' (port out of range)\n" if $port > 65535;
            return ('tcp', (length $host ? $host : '0.0.0.0'), $port, undef);
        }
        die "invalid $option address '$spec' (expected host:port or a UNIX socket path)\n";
    }
    die "invalid $option address '$spec' (expected host:port or a UNIX socket path)\n"
        if $spec =~ /\A[0-9]+\z/;    # a bare port is a mistake more often than a path
    return ('unix', undef, undef, $spec);
}

sub spec   { $_[0]{spec} }
sub named_fd { $_[0]{named_fd} }    # N of an fd://N listener
sub proto  { $_[0]{proto} }
sub option { $OPTION_OF{ $_[0]{proto} } }
sub socket { $_[0]{sock} }
sub fd     { $_[0]{sock} ? fileno $_[0]{sock} : undef }
sub is_unix { $_[0]{kind} eq 'unix' }

sub server_name { $_[0]{server_name} // ($_[0]->is_unix ? $_[0]{path} : $_[0]{host}) }
sub server_port { $_[0]{server_port} // ($_[0]->is_unix ? 0 : $_[0]{port}) }

sub describe {
    my ($self) = @_;
    my $what = $self->{proto} eq 'http' ? 'HTTP' : 'the uwsgi protocol';
    my $where = $self->is_unix ? "UNIX socket $self->{path}" : "$self->{host}:" . $self->server_port;
    $where .= " (inherited fd $self->{inherited})" if defined $self->{inherited};
    return "$what on $where";
}

sub bind {
    my ($self) = @_;
    return $self->{sock} if $self->{sock};
    my $opt = $self->option;
    if ($self->is_unix) {
        my $path = $self->{path};
        my $abstract = $path =~ /\A@/;
        if (!$abstract) {
            # uWSGI removes what a previous run left; anything but a socket is a mistake
            if (-S $path) { unlink $path or die "cannot remove stale $opt $path: $!\n" }
            elsif (-e $path) { die "cannot bind $opt $path: it exists and is not a socket\n" }
        }
        my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM) or die "cannot create a UNIX socket: $!\n";
        my $addr = pack_sockaddr_un($abstract ? "\0" . substr($path, 1) : $path);
        CORE::bind($sock, $addr) or die "cannot bind $opt $path: $!\n";
        if (!$abstract) {
            $self->{owned_path} = $path;
            if (defined $self->{chmod}) {
                chmod oct($self->{chmod}), $path or die "cannot chmod $opt $path to $self->{chmod}: $!\n";
            }
        }
        CORE::listen($sock, $self->{backlog}) or die "cannot listen on $opt $path: $!\n";
        $self->{sock} = $sock;
        return $sock;
    }
    my $sock = IO::Socket::IP->new(
        LocalHost => $self->{host},
        LocalPort => $self->{port},
        Listen    => $self->{backlog},
        ReuseAddr => 1,
        Proto     => 'tcp',
    ) or die "cannot bind $opt $self->{spec}: " . ($@ || $!) . "\n";
    # accepted connections inherit TCP_NODELAY on Linux: set it once here
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    $self->{port} = $sock->sockport if !$self->{port};
    $self->{sock} = $sock;
    return $sock;
}

# Uses an already listening socket (the Emperor's on-demand socket at fd 0,
# one kept across a reload, an fd://N) instead of binding. An fd://N
# listener learns its address from the socket.
sub adopt_fd {
    my ($self, $fd) = @_;
    if (defined $self->{named_fd}) {
        my @addr = fd_address($fd);
        @$self{qw(kind host port path)} = @addr == 2 ? ('tcp', @addr, undef)
            : ('unix', undef, undef, defined $addr[0] && length $addr[0] ? $addr[0] : $self->{spec});
    }
    my $sock;
    if ($self->is_unix) {
        $sock = IO::Socket::UNIX->new_from_fd($fd, 'r+');
    }
    else {
        $sock = IO::Socket::IP->new_from_fd($fd, 'r+');
    }
    $sock or die "cannot use the inherited socket fd $fd for $self->{spec}: $!\n";
    $self->{sock} = $sock;
    $self->{inherited} = $fd;
    if (!$self->is_unix) {
        my ($host, $port) = sock_address($sock);
        $self->{port} = $port if defined $port;
    }
    return $sock;
}

# Where a listening socket is bound: (host, port) or (path).
sub sock_address {
    my ($sock) = @_;
    my $name = getsockname($sock) or return;
    my $family = sockaddr_family($name);
    if ($family == AF_INET) {
        my ($port, $addr) = unpack_sockaddr_in($name);
        return (inet_ntop(AF_INET, $addr), $port);
    }
    if ($family == AF_INET6) {
        my ($port, $addr) = unpack_sockaddr_in6($name);
        return (inet_ntop(AF_INET6, $addr), $port);
    }
    if ($family == AF_UNIX) {
        my $path = Socket::unpack_sockaddr_un($name);
        $path = '@' . substr($path, 1) if defined $path && $path =~ /\A\0/;
        return ($path);
    }
    return;
}

# Where descriptor $fd is bound, as sock_address says; looks at a dup(),
# so that closing it does not close $fd.
sub fd_address {
    my ($fd) = @_;
    open(my $probe, '<&', $fd) or return;
    my @addr = sock_address($probe);
    close $probe;
    return @addr;
}

# Does this (configured) listener name @addr, a socket's address as
# sock_address returns it?
sub matches_address {
    my ($self, @addr) = @_;
    return 0 unless @addr;
    if ($self->is_unix) {
        return @addr == 1 && defined $addr[0] && $addr[0] eq $self->{path};
    }
    return 0 unless @addr == 2 && $addr[1] == $self->{port};
    return 1 if $self->{host} =~ /\A(?:0\.0\.0\.0|::|\*)\z/;
    return 1 if $addr[0] eq $self->{host};
    my ($err, @res) = Socket::getaddrinfo($self->{host}, undef, { socktype => SOCK_STREAM });
    for my $ai (@res) {
        my ($nerr, $ip) = Socket::getnameinfo($ai->{addr}, Socket::NI_NUMERICHOST(), Socket::NIx_NOSERV());
        return 1 if !$nerr && $ip eq $addr[0];
    }
    return 0;
}

# Lets the listening socket survive an exec (a reload); returns "proto|spec|fd".
sub keep_across_exec {
    my ($self) = @_;
    my $fd = $self->fd // return;
    Vassal::XS::set_cloexec($fd, 0);
    delete $self->{owned_path};    # the next process owns the file now
    return join '|', $self->{proto}, $self->{spec}, $fd;
}

# Parses VASSAL_LISTEN_FDS ("proto|spec|fd;...") into { "proto|spec" => fd }.
sub inherited_from_env {
    my ($value) = @_;
    my %fds;
    for my $item (grep length, split /;/, $value // '') {
        my ($proto, $spec, $fd) = $item =~ /\A(http|uwsgi)\|(.*)\|([0-9]+)\z/s or next;
        $fds{"$proto|$spec"} = $fd;
    }
    return \%fds;
}

sub close {
    my ($self) = @_;
    if (my $sock = delete $self->{sock}) {
        CORE::close($sock);
    }
    if (my $path = delete $self->{owned_path}) {
        unlink $path if -S $path;
    }
    return;
}

# What Vassal::XS::worker_run wants to know about it.
sub worker_info {
    my ($self) = @_;
    return {
        fd          => $self->fd,
        proto       => $self->{proto},
        unix        => $self->is_unix ? 1 : 0,
        server_name => $self->server_name,
        server_port => $self->server_port,
    };
}

1;
__END__

=head1 NAME

Vassal::Listener - one listening socket of a vassal (socket or http-socket)

=head1 SYNOPSIS

  use Vassal::Listener;
  use File::Temp qw(tempdir);

  my $http = Vassal::Listener->new(spec => '127.0.0.1:0', proto => 'http', backlog => 100);
  $http->bind;
  print $http->describe, "\n";          # HTTP on 127.0.0.1:40123

  my $dir = tempdir(CLEANUP => 1);
  my $uwsgi = Vassal::Listener->new(spec => "$dir/app.sock", proto => 'uwsgi', chmod => '660');
  $uwsgi->bind;
  printf "%o\n", (stat "$dir/app.sock")[2] & 07777;   # 660
  $_->close for $http, $uwsgi;          # the UNIX socket file is removed

=head1 DESCRIPTION

A C<socket> (the uwsgi protocol, for nginx's C<uwsgi_pass>) or an
C<http-socket>, parsed as uWSGI does: a spec with a colon that does not start
with C</> or C<@> is TCP (C<host:port>, C<:port>, C<[::1]:port>), anything
else a UNIX socket path (C<@name>: an abstract one). A stale UNIX socket file
is replaced; C<chmod> (C<chmod-socket>) sets its mode; C<backlog>
(C<listen>) the listen queue. TCP sockets get C<TCP_NODELAY>, which accepted
connections inherit.

A listener can instead adopt an already listening descriptor: the Emperor's
on-demand or held socket (fd 0), or one kept across a reload, whose numbers
travel in C<VASSAL_LISTEN_FDS> as C<proto|spec|fd;...>.

The spec C<fd://N> (uWSGI's) names such a descriptor itself: the listener
serves descriptor C<N>, which must already be a listening socket (C<new>
dies with C<cannot use http-socket fd://N: fd N is not open> - or I<is not a
socket>, I<is a socket that is not listening> - otherwise), and takes its
address (TCP or UNIX, for C<SERVER_NAME>/C<SERVER_PORT>) from it. It never
binds, and C<close> never removes a socket file it did not create.

=head1 METHODS

=over 4

=item new(spec => $spec, proto => 'http' | 'uwsgi', backlog => $n, chmod => $octal)

=item bind, adopt_fd($fd), close

C<close> removes a UNIX socket file this process created (or inherited across a reload).

=item spec, proto, option, socket, fd, is_unix, server_name, server_port, describe

=item matches_address(@addr) - is C<@addr> (what C<sock_address> returns) this listener's address?

=item keep_across_exec - clears close-on-exec; returns the C<VASSAL_LISTEN_FDS> item

=item inherited_from_env($value), parse_spec($spec, $option), sock_address($sock), fd_address($fd)

=item not_listening($fd) - why descriptor C<$fd> is not a listening socket (not open, not a
socket, not listening), or undef when it is one

=item named_fd - C<N> of an C<fd://N> listener

=item worker_info - the hash L<Vassal::XS/worker_run> takes for each listener

=back

=cut
