package Vassal::Server;
use strict;
use warnings;
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use POSIX qw(WNOHANG SIGTERM SIGKILL SIGQUIT);
use Time::HiRes ();
use Vassal::XS ();
use Vassal::Log qw(vlog);
use Vassal::Emperor;
use Vassal::Listener;
use Vassal::Worker;

our $VERSION = '0.01';

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        workers          => 1,
        graceful_timeout => 30,     # seconds for in-flight requests on a graceful stop
        stop_timeout     => 3,      # seconds before SIGKILL on an immediate stop
        respawn_delay    => 1,      # a worker that died younger than this is respawned after it
        adopted          => 0,
        harakiri         => 0,
        max_requests     => 0,
        idle             => 0,
        die_on_idle      => 0,
        heartbeat        => 0,
        worker_options   => {},     # socket_timeout, buffer_size, ... for Vassal::Worker
        post_fork        => [],     # subs run in each new worker
        listeners        => [],
        %args,
    }, $class;
    die "Vassal::Server: workers must be a positive integer\n"
        unless $self->{workers} =~ /\A[0-9]+\z/ && $self->{workers} > 0;
    # the historical single-socket form: listen => 'host:port' / listen_fd => N
    if (defined $self->{listen} || defined $self->{listen_fd}) {
        my $l = Vassal::Listener->new(spec => $self->{listen} // '0.0.0.0:0', proto => 'http');
        $l->adopt_fd($self->{listen_fd}) if defined $self->{listen_fd};
        push @{ $self->{listeners} }, $l;
    }
    return $self;
}

# Kept for callers of the first version: 'host:port' -> (host, port).
sub parse_address {
    my ($addr) = @_;
    my ($kind, $host, $port) = Vassal::Listener::parse_spec($addr, 'http-socket');
    die "invalid http-socket address '$addr' (expected host:port)\n" unless $kind eq 'tcp';
    return ($host, $port);
}

sub listeners { @{ $_[0]{listeners} } }

# The first listener's socket (Plack::Handler::Vassal reports its port).
sub listen_socket { $_[0]{listeners}[0] && $_[0]{listeners}[0]->socket }

sub setup_listeners {
    my ($self) = @_;
    die "Vassal::Server: no socket to serve on\n" unless @{ $self->{listeners} };
    for my $l (@{ $self->{listeners} }) {
        $l->bind unless $l->socket;
        vlog("serving ", $l->describe, " with $self->{workers} worker(s)");
    }
    return;
}

sub run {
    my ($self, $app) = @_;
    $self->{app} = $app if $app;
    die "Vassal::Server: no app\n" unless $self->{app};
    $self->setup_listeners;
    return $self->run_master;
}

# The master's process name; workers get it with " (worker N)".
sub title {
    my ($self) = @_;
    return $self->{procname} // $self->{title} // $0;
}

sub run_master {
    my ($self) = @_;
    $self->{master_pid} = $$;
    $0 = $self->title if defined $self->{procname} || defined $self->{title};
    my $emperor = $self->{emperor};

    pipe(my $status_r, my $status_w) or die "pipe: $!\n";
    pipe(my $wake_r, my $wake_w) or die "pipe: $!\n";
    $_->blocking(0) for $status_r, $wake_r, $wake_w;
    @$self{qw(status_r status_w wake_r wake_w)} = ($status_r, $status_w, $wake_r, $wake_w);
    $self->{scoreboard} = Vassal::XS::scoreboard_new($self->{workers});

    $self->{workers_by_pid} = {};
    $self->{pending} = [];    # [slot, not_before]
    $self->{stopping} = '';
    $self->{cheap} = 0;
    $self->{last_activity} = Time::HiRes::time();
    $self->{last_requests} = 0;
    $self->{next_heartbeat} = Time::HiRes::time() + $self->{heartbeat};

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
            $self->_respawn_pending unless $self->{cheap};
            $self->_check_harakiri if $self->{harakiri};
            $self->_check_idle if $self->{idle};
        }
        $self->_heartbeat if $self->{heartbeat} && $emperor && $emperor->fh;
        $self->_wait_events;
    }
    $self->_cleanup;
    vlog("master exiting");
    if (my $next = $self->{after_stop}) {
        $next->($self);
    }
    $_->close for @{ $self->{listeners} };
    return 0;
}

sub _cleanup {
    my ($self) = @_;
    close $_ for grep defined, @$self{qw(status_r status_w wake_r wake_w)};
    delete @$self{qw(status_r status_w wake_r wake_w)};
}

# Starts a stop: 'now' (SIGTERM to workers) or 'graceful' (workers finish
# their in-flight request). An immediate stop overrides a graceful one.
# $keep_listeners: a reload, the next process serves the same sockets.
sub stop {
    my ($self, $how, $why, $keep_listeners) = @_;
    return if $self->{stopping} eq 'now' || $self->{stopping} eq $how;
    $self->{stopping} = $how;
    vlog("stopping ($how) on $why");
    $_->close for $keep_listeners ? () : @{ $self->{listeners} };
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
        # a graceful stop before the loop runs (during perl-exec-post-fork):
        # nothing is in flight, just go (the loop installs its own handlers)
        $SIG{$_} = sub { POSIX::_exit(0) } for qw(QUIT HUP);
        # When the master dies the kernel sends SIGQUIT, the graceful stop of
        # the worker loop: it stops accepting at once and finishes the requests
        # under way (SIGKILL would cut them), the connections still in the
        # listening socket's backlog staying there for the next generation,
        # which holds the same socket (the Emperor's). A signal, not polling
        # getppid() in the loop: it comes the moment the master is gone, so no
        # connection is accepted after that, and it interrupts an idle worker
        # waiting in epoll_wait. The loop bounds what follows (orphan_timeout).
        Vassal::XS::set_pdeathsig(SIGQUIT);
        POSIX::_exit(0) if getppid() != $master_pid;
        $self->_run_worker($slot, $master_pid);
        1;
    };
    vlog("worker $slot died: $@") unless $ok;
    POSIX::_exit($ok ? 0 : 1);
}

sub _run_worker {
    my ($self, $slot, $master_pid) = @_;
    $0 = $self->title . " (worker $slot)";
    $SIG{$_} = 'DEFAULT' for qw(TERM INT CHLD USR1 USR2 ALRM);
    $SIG{PIPE} = 'IGNORE';
    close $self->{status_r};
    close $self->{wake_r};
    close $self->{wake_w};
    $self->{emperor}->close if $self->{emperor};
    $self->{scoreboard}->reset($slot - 1);
    $_->($slot) for @{ $self->{post_fork} };

    my $why = Vassal::Worker->run(
        %{ $self->{worker_options} },
        app          => $self->{app},
        listeners    => $self->{listeners},
        scoreboard   => $self->{scoreboard},
        slot         => $slot - 1,
        status_fd    => fileno($self->{status_w}),
        max_requests => $self->{max_requests},
        master_pid   => $master_pid,
        orphan_timeout => $self->orphan_timeout,
    );
    vlog("worker $slot exiting: $why") unless $why eq 'graceful stop';
    return;
}

# How long a worker whose master died may take to finish its request:
# what the master would have allowed it, harakiri or else graceful_timeout.
sub orphan_timeout {
    my ($self) = @_;
    my $t = $self->{graceful_timeout};
    $t = $self->{harakiri} if $self->{harakiri} && $self->{harakiri} < $t;
    return $t;
}

sub _reap {
    my ($self) = @_;
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        my $status = $?;
        my $w = delete $self->{workers_by_pid}{$pid} or next;
        next if $self->{stopping};
        $self->{scoreboard}->reset($w->{slot} - 1);
        next if $self->{cheap};
        # exit status 0: the worker chose to go (max-requests, harakiri commit, a restart)
        my $planned = $w->{retiring} || $status == 0;
        if (!$planned) {
            vlog("worker $w->{slot} (pid $pid) died unexpectedly (", _wait_status($status), "), respawning");
        }
        my $lived = Time::HiRes::time() - $w->{born};
        my $delay = !$planned && $lived < $self->{respawn_delay} ? $self->{respawn_delay} : 0;
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

# harakiri: a worker whose request has run for longer is killed (and replaced).
sub _check_harakiri {
    my ($self) = @_;
    my $now = Vassal::XS::monotonic_now();
    for my $pid (keys %{ $self->{workers_by_pid} }) {
        my $w = $self->{workers_by_pid}{$pid};
        next if $w->{harakiri};
        my $s = $self->{scoreboard}->slot($w->{slot} - 1);
        next unless $s->{pid} == $pid && $s->{busy_since} > 0;
        my $took = $now - $s->{busy_since};
        next unless $took > $self->{harakiri};
        vlog(sprintf "HARAKIRI: worker %d (pid %d) has been serving one request for %.1f seconds (harakiri %d): killing it",
             $w->{slot}, $pid, $took, $self->{harakiri});
        $w->{harakiri} = 1;
        kill SIGKILL, $pid;
    }
}

sub _total_requests {
    my ($self) = @_;
    my ($total, $busy) = (0, 0);
    for my $i (0 .. $self->{workers} - 1) {
        my $s = $self->{scoreboard}->slot($i);
        $total += $s->{requests};
        $busy ||= $s->{busy_since} > 0;
    }
    return ($total, $busy);
}

# idle: no request for that long -> cheap mode (the workers stop until the
# next connection), or with die-on-idle byte 22 to the Emperor (exit
# without one). Requests are counted on the scoreboard, which a worker
# respawned after it starts again from zero: count any change.
sub _check_idle {
    my ($self) = @_;
    return if $self->{cheap} || $self->{idle_reported};
    my $now = Time::HiRes::time();
    my ($total, $busy) = $self->_total_requests;
    if ($busy || $total != $self->{last_requests}) {
        $self->{last_requests} = $total;
        $self->{last_activity} = $now;
        return;
    }
    return if $now - $self->{last_activity} <= $self->{idle};
    vlog("workers have been inactive for more than $self->{idle} seconds");
    if ($self->{die_on_idle}) {
        $self->{idle_reported} = 1;
        if (my $emperor = $self->{emperor}) {
            vlog("asking the Emperor to stop me (byte 22)");
            $emperor->stop_me or $self->stop('now', 'the Emperor pipe is broken');
        }
        else {
            $self->stop('graceful', 'die-on-idle');
        }
        return;
    }
    vlog("cheap mode: stopping the workers until the next connection");
    $self->{cheap} = 1;
    $self->{pending} = [];
    kill SIGQUIT, keys %{ $self->{workers_by_pid} };
    return;
}

sub _leave_cheap_mode {
    my ($self) = @_;
    vlog("a connection arrived: leaving cheap mode");
    $self->{cheap} = 0;
    $self->{last_activity} = Time::HiRes::time();
    my %running = map { $_->{slot} => 1 } values %{ $self->{workers_by_pid} };
    $self->spawn_worker($_) for grep { !$running{$_} } 1 .. $self->{workers};
    $self->{last_requests} = -1;    # counted afresh
}

sub _heartbeat {
    my ($self) = @_;
    my $now = Time::HiRes::time();
    return if $now < $self->{next_heartbeat};
    $self->{next_heartbeat} = $now + $self->{heartbeat};
    $self->{emperor}->heartbeat;
}

sub _wait_events {
    my ($self) = @_;
    my $emperor = $self->{emperor};
    my $rin = '';
    vec($rin, fileno($self->{status_r}), 1) = 1;
    vec($rin, fileno($self->{wake_r}), 1) = 1;
    vec($rin, $emperor->fd, 1) = 1 if $emperor && $emperor->fh;
    my @cheap_fds;
    if ($self->{cheap} && !$self->{stopping} && !%{ $self->{workers_by_pid} }) {
        @cheap_fds = grep defined, map { $_->fd } @{ $self->{listeners} };
        vec($rin, $_, 1) = 1 for @cheap_fds;
    }
    my $timeout = 1;
    for my $p (@{ $self->{pending} }) {
        my $left = $p->[1] - Time::HiRes::time();
        $timeout = $left if $left < $timeout;
    }
    if ($self->{heartbeat}) {
        my $left = $self->{next_heartbeat} - Time::HiRes::time();
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
    if (grep { vec($rout, $_, 1) } @cheap_fds) {
        $self->_leave_cheap_mode;
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
            # the workers finish their requests; the sockets stay open (new
            # connections wait in the backlog) and the next process takes them
            $self->{after_stop} = $self->{on_reload};
            $self->stop('graceful', 'byte 1 (reload) from the Emperor', 1);
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

Vassal::Server - a prefork PSGI vassal: a master and its workers

=head1 SYNOPSIS

  use Vassal::Server;
  use Vassal::Listener;

  my $server = Vassal::Server->new(
      listeners => [ Vassal::Listener->new(spec => '127.0.0.1:0', proto => 'http') ],
      workers   => 2,
      emperor   => undef,                 # a Vassal::Emperor, or none
      harakiri  => 30,
      server_ready => sub { my $s = shift; print "port ", $s->listen_socket->sockport, "\n";
                            kill 'TERM', $$ },  # stop at once, for this example
  );
  $server->run(sub { [200, ['Content-Type' => 'text/plain'], ["Hello\n"]] });

=head1 DESCRIPTION

The master binds its listeners (L<Vassal::Listener>: C<http-socket>s and
C<socket>s, or already listening descriptors), forks C<workers> prefork
workers that serve the app (L<Vassal::Worker>), and supervises them:

=over 4

=item * a worker that dies is replaced (after C<respawn_delay> when it died
young); one that exits on its own (C<max_requests>, C<psgix.harakiri.commit>)
is replaced at once.

=item * a worker never outlives its master for long: it sets
C<PR_SET_PDEATHSIG> to SIGQUIT, its graceful stop. When the master dies
(even by SIGKILL) the workers stop accepting at once, finish the requests
under way (heads and bodies still arriving too) and exit; the connections still in the listening socket's backlog
are left there for the next generation (a socket the Emperor holds and hands
to every generation). An orphaned worker is killed (SIGKILL, from a timer of
its own) if it is still there C<harakiri> seconds after its master died
(C<graceful_timeout> without harakiri, or when that is shorter).

=item * C<harakiri>: a worker serving one request for longer than that many
seconds is killed (SIGKILL) and replaced. Workers publish their request start
on a shared-memory scoreboard.

=item * C<idle>: after that many seconds without a request the workers are
stopped until a connection arrives (cheap mode); with C<die_on_idle> the
master sends byte 22 to its Emperor instead (without one, it stops).

=item * C<heartbeat>: byte 26 to the Emperor every that many seconds.

=back

With an Emperor (L<Vassal::Emperor>) the master sends byte 1 when the workers
are spawned, 5 when the first worker is about to accept, 17 after the first
request was served. It stops at once (SIGTERM to the workers, SIGKILL after
C<stop_timeout>) on byte 0 and on EOF, and gracefully (the workers finish
their requests under way - in the app, or with a head or body still
arriving - SIGKILL after C<graceful_timeout>) on byte 2. Byte 1
(reload) makes an C<adopted> vassal stop gracefully; otherwise the workers
finish their requests and C<on_reload> is called with the listeners still
open (the runner executes itself again, keeping them), or without one the
workers are restarted.

Signals to the master: TERM and INT stop at once, QUIT stops gracefully, HUP
restarts the workers gracefully.

The master's C<$0> is C<procname> (or C<title>) when given; a worker's is the
master's with C<" (worker N)">.

=head1 METHODS

=over 4

=item new(%options)

C<listeners> (or the single C<listen> host:port / C<listen_fd>), C<workers>
(1), C<emperor>, C<adopted>, C<on_reload>, C<server_ready> (called in the
master once the workers are forked), C<harakiri>, C<max_requests>, C<idle>,
C<die_on_idle>, C<heartbeat>, C<procname>, C<title>, C<post_fork> (subs run
in each new worker with its number), C<worker_options> (passed to
L<Vassal::Worker/run>), C<graceful_timeout> (30), C<stop_timeout> (3),
C<respawn_delay> (1).

=item run($app)

Binds, forks the workers and supervises them until stopped. Returns 0.

=item setup_listeners, listeners, listen_socket, title

=item orphan_timeout - how long a worker whose master died may still run: C<harakiri>
when set and shorter, else C<graceful_timeout>

=item stop('now' | 'graceful', $reason, $keep_listeners)

=item parse_address($addr)

=back

=cut
