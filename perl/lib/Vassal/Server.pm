package Vassal::Server;
use strict;
use warnings;
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use POSIX qw(WNOHANG SIGTERM SIGKILL SIGQUIT);
use Socket qw(SOMAXCONN);
use IO::Socket::IP;
use Time::HiRes ();
use Vassal::XS ();
use Vassal::Log qw(vlog);
use Vassal::Emperor;
use Vassal::Server::HTTP;

our $VERSION = '0.01';

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        workers          => 1,
        graceful_timeout => 30,     # seconds for in-flight requests on a graceful stop
        stop_timeout     => 3,      # seconds before SIGKILL on an immediate stop
        respawn_delay    => 1,      # a worker that lived less than this is respawned after it
        adopted          => 0,
        http_options     => {},
        %args,
    }, $class;
    die "Vassal::Server: workers must be a positive integer\n"
        unless $self->{workers} =~ /\A[0-9]+\z/ && $self->{workers} > 0;
    return $self;
}

# Parses 'host:port', ':port', 'port' or '[v6]:port'.
sub parse_address {
    my ($addr) = @_;
    return ($1, $2) if $addr =~ /\A\[([^\]]*)\]:([0-9]+)\z/;
    return ($1 eq '' ? '0.0.0.0' : $1, $2) if $addr =~ /\A([^:]*):([0-9]+)\z/;
    return ('0.0.0.0', $addr) if $addr =~ /\A[0-9]+\z/;
    die "invalid http-socket address '$addr' (expected host:port)\n";
}

sub listen_socket { $_[0]{listen_sock} }

# Binds the HTTP socket (or adopts an inherited listening one, listen_fd).
sub setup_listener {
    my ($self) = @_;
    return $self->{listen_sock} if $self->{listen_sock};
    if (defined $self->{listen_fd}) {
        my $sock = IO::Socket::IP->new_from_fd($self->{listen_fd}, 'r+')
            or die "cannot use the inherited socket fd $self->{listen_fd}: $!\n";
        $self->{listen_sock} = $sock;
        $self->{server_name} //= $sock->sockhost;
        $self->{server_port} //= $sock->sockport;
        vlog("serving HTTP on inherited socket fd $self->{listen_fd} (",
             $sock->sockhost, ':', $sock->sockport, ')');
        return $sock;
    }
    my $addr = $self->{listen} // die "Vassal::Server: no listen address\n";
    my ($host, $port) = parse_address($addr);
    my $sock = IO::Socket::IP->new(
        LocalHost => $host,
        LocalPort => $port,
        Listen    => SOMAXCONN,
        ReuseAddr => 1,
        Proto     => 'tcp',
    ) or die "cannot bind http-socket $addr: " . ($@ || $!) . "\n";
    $self->{listen_sock} = $sock;
    $self->{server_name} //= $host;
    $self->{server_port} //= $sock->sockport;
    vlog("serving HTTP on $addr with $self->{workers} worker(s)");
    return $sock;
}

sub run {
    my ($self, $app) = @_;
    $self->{app} = $app if $app;
    die "Vassal::Server: no app\n" unless $self->{app};
    $self->setup_listener;
    return $self->run_master;
}

sub _name { Vassal::Log->name }

sub run_master {
    my ($self) = @_;
    my $master_pid = $$;
    $self->{master_pid} = $master_pid;
    $0 = "psgi-vassal: master [" . _name() . "]";
    my $emperor = $self->{emperor};

    pipe(my $status_r, my $status_w) or die "pipe: $!\n";
    pipe(my $wake_r, my $wake_w) or die "pipe: $!\n";
    $_->blocking(0) for $status_r, $wake_r, $wake_w;
    @$self{qw(status_r status_w wake_r wake_w)} = ($status_r, $status_w, $wake_r, $wake_w);

    $self->{workers_by_pid} = {};
    $self->{pending} = [];    # [slot, not_before]
    $self->{stopping} = '';

    my $wake = sub { syswrite $wake_w, 'x' };
    local $SIG{PIPE} = 'IGNORE';
    local $SIG{CHLD} = $wake;
    local $SIG{TERM} = sub { $self->stop('now', 'SIGTERM');  $wake->() };
    local $SIG{INT}  = sub { $self->stop('now', 'SIGINT');   $wake->() };
    local $SIG{QUIT} = sub { $self->stop('graceful', 'SIGQUIT'); $wake->() };
    local $SIG{HUP}  = sub { $self->{restart_workers} = 1; $wake->() };

    $self->spawn_worker($_) for 1 .. $self->{workers};
    $emperor->ready if $emperor;
    $self->{server_ready}->($self) if $self->{server_ready};

    while (1) {
        $self->_reap;
        if ($self->{stopping}) {
            last unless %{ $self->{workers_by_pid} };
            if (Time::HiRes::time() > $self->{kill_at}) {
                vlog("workers still running after the ", $self->{stopping}, " stop timeout: SIGKILL");
                kill SIGKILL, keys %{ $self->{workers_by_pid} };
                $self->{kill_at} = Time::HiRes::time() + 5;
            }
        }
        else {
            $self->_restart_workers if delete $self->{restart_workers};
            $self->_respawn_pending;
        }
        $self->_wait_events;
    }
    $self->_cleanup;
    vlog("master exiting");
    if (my $next = $self->{after_stop}) {
        $next->();
    }
    return 0;
}

sub _cleanup {
    my ($self) = @_;
    close $self->{listen_sock} if $self->{listen_sock};
    delete $self->{listen_sock};
    close $_ for grep defined, @$self{qw(status_r status_w wake_r wake_w)};
}

# Starts a stop: 'now' (SIGTERM to workers) or 'graceful' (workers finish
# their in-flight request). An immediate stop overrides a graceful one.
sub stop {
    my ($self, $how, $why) = @_;
    return if $self->{stopping} eq 'now' || $self->{stopping} eq $how;
    $self->{stopping} = $how;
    vlog("stopping ($how) on $why");
    close $self->{listen_sock} if $self->{listen_sock};
    delete $self->{listen_sock};
    my @pids = keys %{ $self->{workers_by_pid} || {} };
    if ($how eq 'now') {
        kill SIGTERM, @pids;
        $self->{kill_at} = Time::HiRes::time() + $self->{stop_timeout};
    }
    else {
        kill SIGQUIT, @pids;
        $self->{kill_at} = Time::HiRes::time() + $self->{graceful_timeout};
    }
    return;
}

sub spawn_worker {
    my ($self, $slot) = @_;
    my $master_pid = $$;
    my $pid = fork;
    if (!defined $pid) {
        vlog("fork of worker $slot failed: $!");
        push @{ $self->{pending} }, [$slot, Time::HiRes::time() + 1];
        return;
    }
    if ($pid) {
        $self->{workers_by_pid}{$pid} = { slot => $slot, born => Time::HiRes::time() };
        return $pid;
    }
    # --- the worker
    my $ok = eval {
        Vassal::XS::set_pdeathsig(SIGKILL);
        POSIX::_exit(1) if getppid() != $master_pid;
        $self->_run_worker($slot);
        1;
    };
    vlog("worker $slot died: $@") unless $ok;
    POSIX::_exit($ok ? 0 : 1);
}

sub _run_worker {
    my ($self, $slot) = @_;
    $0 = "psgi-vassal: worker $slot [" . _name() . "]";
    $SIG{$_} = 'DEFAULT' for qw(TERM INT CHLD HUP);
    $SIG{PIPE} = 'IGNORE';
    close $self->{status_r};
    close $self->{wake_r};
    close $self->{wake_w};
    $self->{emperor}->close if $self->{emperor};

    my $status_w = $self->{status_w};
    my $served = 0;
    my $http = Vassal::Server::HTTP->new(
        %{ $self->{http_options} },
        app          => $self->{app},
        listen       => $self->{listen_sock},
        server_name  => $self->{server_name},
        server_port  => $self->{server_port},
        on_accepting => sub { syswrite $status_w, "A$$\n" },
        on_served    => sub { syswrite $status_w, "S$$\n" unless $served++ },
    );
    $SIG{QUIT} = sub { $http->graceful_exit };
    $SIG{HUP}  = sub { $http->graceful_exit };
    $http->run;
    return;
}

sub _reap {
    my ($self) = @_;
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        my $status = $?;
        my $w = delete $self->{workers_by_pid}{$pid} or next;
        next if $self->{stopping};
        if (!$w->{retiring}) {
            vlog("worker $w->{slot} (pid $pid) died unexpectedly (", _wait_status($status), "), respawning");
        }
        my $lived = Time::HiRes::time() - $w->{born};
        my $delay = $lived < $self->{respawn_delay} && !$w->{retiring} ? $self->{respawn_delay} : 0;
        push @{ $self->{pending} }, [$w->{slot}, Time::HiRes::time() + $delay];
    }
}

sub _wait_status {
    my ($s) = @_;
    return "signal " . ($s & 127) if $s & 127;
    return "exit status " . ($s >> 8);
}

sub _respawn_pending {
    my ($self) = @_;
    my $now = Time::HiRes::time();
    my @later;
    for my $p (@{ $self->{pending} }) {
        if ($p->[1] <= $now) { $self->spawn_worker($p->[0]) }
        else                 { push @later, $p }
    }
    $self->{pending} = \@later;
}

sub _restart_workers {
    my ($self) = @_;
    vlog("restarting the workers gracefully");
    for my $pid (keys %{ $self->{workers_by_pid} }) {
        $self->{workers_by_pid}{$pid}{retiring} = 1;
        kill SIGQUIT, $pid;
    }
}

sub _wait_events {
    my ($self) = @_;
    my $emperor = $self->{emperor};
    my $rin = '';
    vec($rin, fileno($self->{status_r}), 1) = 1;
    vec($rin, fileno($self->{wake_r}), 1) = 1;
    vec($rin, $emperor->fd, 1) = 1 if $emperor && $emperor->fh;
    my $timeout = 1;
    for my $p (@{ $self->{pending} }) {
        my $left = $p->[1] - Time::HiRes::time();
        $timeout = $left if $left < $timeout;
    }
    $timeout = 0.01 if $timeout < 0.01;
    my $n = select(my $rout = $rin, undef, undef, $timeout);
    return if $n <= 0;
    if (vec($rout, fileno($self->{wake_r}), 1)) {
        1 while sysread($self->{wake_r}, my $junk, 512);
    }
    if (vec($rout, fileno($self->{status_r}), 1)) {
        $self->_read_status;
    }
    if ($emperor && $emperor->fh && vec($rout, $emperor->fd, 1)) {
        $self->_emperor_command;
    }
}

sub _read_status {
    my ($self) = @_;
    my $n = sysread($self->{status_r}, my $buf, 4096);
    return unless $n;
    $self->{status_buf} .= $buf;
    while ($self->{status_buf} =~ s/\A([AS])([0-9]+)\n//) {
        my ($what, $pid) = ($1, $2);
        my $emperor = $self->{emperor} or next;
        if ($what eq 'A') { $emperor->accepting }
        else              { $emperor->loyal }
    }
}

sub _emperor_command {
    my ($self) = @_;
    my $emperor = $self->{emperor};
    my $cmd = $emperor->read_command;
    return if defined $cmd && $cmd eq '';
    if (!defined $cmd) {
        $emperor->close;
        $self->stop('now', 'EOF from the Emperor');
    }
    elsif ($cmd == Vassal::Emperor::CMD_STOP) {
        $self->stop('now', 'byte 0 (stop) from the Emperor');
    }
    elsif ($cmd == Vassal::Emperor::CMD_GRACEFUL) {
        $self->stop('graceful', 'byte 2 (graceful stop) from the Emperor');
    }
    elsif ($cmd == Vassal::Emperor::CMD_RELOAD) {
        if ($self->{adopted}) {
            $self->stop('graceful', 'byte 1 (reload) from the Emperor: an adopted vassal exits');
        }
        elsif ($self->{on_reload}) {
            $self->{after_stop} = $self->{on_reload};
            $self->stop('graceful', 'byte 1 (reload) from the Emperor');
        }
        else {
            $self->{restart_workers} = 1;
        }
    }
    else {
        vlog("ignoring unknown byte $cmd from the Emperor");
    }
}

1;
__END__

=head1 NAME

Vassal::Server - a prefork PSGI vassal: a master and its HTTP workers

=head1 SYNOPSIS

  use Vassal::Server;

  my $server = Vassal::Server->new(
      listen  => '127.0.0.1:0',           # http-socket
      workers => 2,
      emperor => undef,                   # a Vassal::Emperor, or none
      server_ready => sub { my $s = shift; print "port ", $s->listen_socket->sockport, "\n";
                            kill 'TERM', $$ },  # stop at once, for this example
  );
  $server->run(sub { [200, ['Content-Type' => 'text/plain'], ["Hello\n"]] });

=head1 DESCRIPTION

The master binds the HTTP socket (or adopts an inherited one, C<listen_fd>),
forks C<workers> prefork workers that serve the app with
L<Vassal::Server::HTTP>, and supervises them: a worker that dies is replaced
(after C<respawn_delay> when it died young). Workers set C<PR_SET_PDEATHSIG>
so they never outlive the master.

With an Emperor (L<Vassal::Emperor>), the master sends byte 1 when the workers
are spawned, 5 when the first worker is about to accept, 17 after the first
request was served (workers report over a pipe). It stops at once (SIGTERM to
the workers, SIGKILL after C<stop_timeout>) on byte 0 and on EOF, and
gracefully (workers finish their in-flight request, SIGKILL after
C<graceful_timeout>) on byte 2. Byte 1 (reload) makes an C<adopted> vassal
stop gracefully; otherwise it calls C<on_reload> after a graceful stop (the
runner re-executes itself there), or without one restarts the workers.

Signals to the master: TERM and INT stop at once, QUIT stops gracefully, HUP
restarts the workers gracefully.

=head1 METHODS

=over 4

=item new(%options)

C<listen> (host:port) or C<listen_fd>, C<workers> (1), C<emperor>,
C<adopted>, C<on_reload>, C<server_ready> (called in the master once the
workers are forked), C<graceful_timeout> (30), C<stop_timeout> (3),
C<respawn_delay> (1), C<http_options> (passed to L<Vassal::Server::HTTP>).

=item run($app)

Binds, forks the workers and supervises them until stopped. Returns 0.

=item setup_listener, listen_socket

=item stop('now' | 'graceful', $reason)

=item parse_address($addr)

=back

=cut
