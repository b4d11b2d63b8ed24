package Vassal::Runner;
use strict;
use warnings;
use Cwd ();
use File::Spec;
use POSIX ();
use Time::HiRes ();
use Plack::Util;
use Vassal::Config;
use Vassal::Log qw(vlog);
use Vassal::Emperor;
use Vassal::XS;
use Vassal::Listener;

our $VERSION = '0.01';

# uWSGI's exit status when no app could be loaded (need-app)
use constant EXIT_NO_APP => 22;

sub new {
    my ($class, %args) = @_;
    return bless {
        script => $0,          # re-executed on reload (a non-adopted vassal)
        %args,
    }, $class;
}

# Runs psgi-vassal with @args (argv without argv[0]). Returns the exit status.
# Options: preloaded_app (an adopted vassal reuses it when its config names
# no psgi), adopted, ondemand_fd, title (the process name).
sub run {
    my ($self, $args, %opt) = @_;
    my $config = eval { Vassal::Config->from_argv($args) };
    if (my $e = $@) {
        chomp $e;
        vlog("configuration error: $e");
        return 2;
    }
    Vassal::Log->name($config->name) if defined $config->name;
    local $SIG{__WARN__} = sub { vlog(@_) };    # warnings get the [name pid N] prefix too

    my $rc = eval { $self->_run($config, $args, %opt) };
    if (my $e = $@) {
        chomp $e;
        vlog("fatal: $e");
        return $self->{exit_status} // 1;
    }
    return $rc // 0;
}

sub load_app {
    my ($self, $path, $what) = @_;
    my $app = eval { Plack::Util::load_psgi($path) };
    die "cannot load $what '$path': $@" if $@;
    die "$what '$path' did not return a code reference\n" unless ref $app;
    return $app;
}

# Runs a Perl file the way uWSGI's perl-exec does: in package main, dying
# with its error.
sub exec_perl {
    my ($self, $file, $what) = @_;
    my $path = File::Spec->rel2abs($file);
    die "cannot run $what '$file': no such file\n" unless -f $path;
    local $0 = $path;
    local ($@, $!);
    $! = 0;
    my $rv = do $path;
    die "$what '$file' failed: $@" if $@;
    die "cannot run $what '$file': $!\n" if !defined $rv && $!;
    return 1;
}

# The environment part of the options, in uWSGI's order: env, chdir,
# perl-local-lib.
sub apply_environment {
    my ($self, $config) = @_;
    for my $kv ($config->get_all('env')) {
        my ($k, $v) = $kv =~ /\A([^=]+)=(.*)\z/s
            or die "env '$kv': expected NAME=VALUE\n";
        $ENV{$k} = $v;
    }
    if (defined(my $dir = $config->get('chdir'))) {
        chdir $dir or die "cannot chdir to '$dir': $!\n";
        vlog("chdir() to $dir");
    }
    if (defined(my $ll = $config->get('perl-local-lib'))) {
        # what local::lib does for @INC, without needing it installed
        my $base = File::Spec->rel2abs($ll);
        die "perl-local-lib '$ll' is not a directory\n" unless -d $base;
        require lib;
        lib->import("$base/lib/perl5");
        vlog("using $base as local::lib directory");
    }
    return;
}

sub _run {
    my ($self, $config, $args, %opt) = @_;
    $self->apply_environment($config);

    # early-perl-exec and early-psgi come before anything else (sockets, Emperor)
    for my $file ($config->get_all('early-perl-exec')) {
        $self->exec_perl($file, 'early-perl-exec');
        vlog("executed early-perl-exec $file");
    }
    my $app;
    if (defined(my $early = $config->get('early-psgi'))) {
        $app = $self->load_app($early, 'early-psgi');
        vlog("loaded early-psgi $early");
    }
    my $emperor = Vassal::Emperor->from_env;

    if (defined(my $path = $config->get('fork-server'))) {
        return $self->_run_fork_server($config, $path, $app, $emperor);
    }

    for my $file ($config->get_all('perl-exec')) {
        $self->exec_perl($file, 'perl-exec');
    }
    if (defined(my $psgi = $config->get('psgi'))) {
        # an adopted vassal loads its own app on top of what its base preloaded
        $app = $self->load_app($psgi, 'psgi');
        vlog("loaded psgi $psgi");
    }
    $app ||= $opt{preloaded_app};
    if (!$app) {
        if ($config->get('need-app')) {
            $self->{exit_status} = EXIT_NO_APP;
            die "no app to serve: set psgi (need-app)\n";
        }
        vlog("no app loaded: every request gets 503 (need-app is false)");
        $app = sub { [503, ['Content-Type' => 'text/plain'], ["no app loaded\n"]] };
    }

    # an adopted vassal gets fd 0 only with mask 0x04 (the fork server says
    # so); its fd 0 may otherwise be its base's
    my $ondemand_fd = $opt{adopted} ? $opt{ondemand_fd} : $self->spawned_ondemand_fd;
    my @listeners = $self->listeners($config, $ondemand_fd);

    require Vassal::Server;
    my @post_fork = map {
        my $file = $_;
        sub { $self->exec_perl($file, 'perl-exec-post-fork') }
    } $config->get_all('perl-exec-post-fork');
    my $title = $config->get('procname') // $opt{title}
        // join(' ', $self->{script}, @$args);
    my $server = Vassal::Server->new(
        listeners    => \@listeners,
        workers      => $config->get('processes'),
        emperor      => $emperor,
        adopted      => $opt{adopted} ? 1 : 0,
        title        => $title,
        harakiri     => $config->get('harakiri'),
        max_requests => $config->get('max-requests'),
        idle         => $config->get('idle'),
        die_on_idle  => $config->get('die-on-idle'),
        heartbeat    => $config->get('heartbeat'),
        post_fork    => \@post_fork,
        worker_options => {
            socket_timeout => $config->get('socket-timeout'),
            header_timeout => $config->get('header-timeout'),       # unset: 3 x socket-timeout
            defer_accept   => $config->get('no-defer-accept') ? 0 : 1,
            buffer_size    => $config->get('buffer-size'),
            limit_post     => $config->get('limit-post'),
            max_connections => $config->get('worker-connections'),
            post_buffering => $config->get('post-buffering'),
            underscores_in_headers => $config->get('http-underscores-in-headers') ? 1 : 0,
        },
        ($opt{adopted} ? () : (on_reload => sub { $self->reexec($args, $emperor, shift) })),
    );
    return $server->run($app);
}

sub _run_fork_server {
    my ($self, $config, $path, $app, $emperor) = @_;
    for my $o (qw(http-socket socket)) {
        die "fork-server and $o cannot be combined\n" if $config->is_set($o);
    }
    my $preloaded = $app || $config->is_set('early-perl-exec');
    for my $file ($config->get_all('perl-exec')) {
        $self->exec_perl($file, 'perl-exec');
        $preloaded = 1;
    }
    if (!$app && defined(my $psgi = $config->get('psgi'))) {
        $app = $self->load_app($psgi, 'psgi');
        vlog("loaded psgi $psgi");
        $preloaded = 1;
    }
    die "fork-server needs an app to preload (early-psgi, early-perl-exec, perl-exec or psgi)\n"
        unless $preloaded;
    require Vassal::ForkServer;
    require Vassal::Server;    # shared with every adopted vassal
    require Vassal::Worker;
    my @uids = map { _uid_of($_) } $config->get_all('fork-server-allow-uid');
    _collapse_heap() if $config->get('fork-server-hugepages');
    $0 = $config->get('procname') if defined $config->get('procname');
    my $fs = Vassal::ForkServer->new(
        path       => $path,
        inherit_fd => 0,    # the Emperor's socket at our path, when it holds one
        emperor    => $emperor,
        chmod      => $config->get('chmod-socket'),
        backlog    => $config->get('listen'),
        allow_uids => \@uids,
        on_adopt   => sub {
            my ($argv, $info) = @_;
            my @argv = @$argv;
            # uWSGI names an adopted vassal after the argv it received
            my $title = join ' ', @argv;
            $0 = $title;
            shift @argv;    # the binary: we do not exec it
            Vassal::Log->name('psgi-vassal');
            return ref($self)->new(script => $self->{script})->run(\@argv,
                preloaded_app => $app, adopted => 1, ondemand_fd => $info->{ondemand_fd},
                title => $title);
        },
    );
    return $fs->run;
}

# Every adoption forks twice and one child exits: with the preloaded heap in
# huge pages each of those costs ~1 ms instead of ~11 ms per 260 MB. The
# collapse itself takes ~0.5 s per 250 MB, once, before the first request.
sub _collapse_heap {
    my $t0 = Time::HiRes::time();
    my $r = Vassal::XS::collapse_heap();
    my $took = sprintf '%.0f ms', (Time::HiRes::time() - $t0) * 1000;
    if ($r->{regions}) {
        vlog(sprintf "preloaded heap in huge pages: %.1f MiB in %d region(s), %s%s", $r->{bytes} / 1048576,
             $r->{regions}, $took, $r->{failed} ? " ($r->{failed} region(s) refused: $r->{error})" : '');
    }
    elsif ($r->{failed}) {
        vlog("preloaded heap stays in 4 KiB pages (madvise MADV_COLLAPSE: $r->{error}); adoptions fork slower");
    }
}

sub _uid_of {
    my ($v) = @_;
    return $v if $v =~ /\A[0-9]+\z/;
    my $uid = getpwnam($v);
    die "fork-server-allow-uid '$v': no such user\n" unless defined $uid;
    return $uid;
}

# The listeners from socket (uwsgi) and http-socket (HTTP), in the order
# they were configured. An fd://N address serves descriptor N as it is.
# The Emperor's on-demand or held socket ($ondemand_fd: fd 0) is served in
# place of the configured socket bound to the same address - or, when none
# is, of the first one that is not an fd://N, or as HTTP when no socket is
# configured (uWSGI serves it; a vassal with nothing but fd://N sockets
# leaves it alone). Sockets kept across a reload (VASSAL_LISTEN_FDS) are
# reused instead of bound again; fd 0 among them is matched afresh, by
# address, like the first time, so that it is taken once.
sub listeners {
    my ($self, $config, $ondemand_fd) = @_;
    my $backlog = $config->get('listen');
    my $chmod = $config->get('chmod-socket');
    my @listeners = map {
        my ($name, $spec) = @$_;
        Vassal::Listener->new(spec => $spec, proto => $name eq 'socket' ? 'uwsgi' : 'http',
                              backlog => $backlog, chmod => $chmod);
    } grep { $_->[0] eq 'socket' || $_->[0] eq 'http-socket' } $config->pairs;

    # descriptors an fd://N listener already serves: not to be taken (or closed) again
    my %taken = map { $_->fd => 1 } grep { $_->socket } @listeners;
    $ondemand_fd = undef if defined $ondemand_fd && $taken{$ondemand_fd};
    $taken{$ondemand_fd} = 1 if defined $ondemand_fd;

    my $inherited = Vassal::Listener::inherited_from_env(delete $ENV{VASSAL_LISTEN_FDS});
    for my $l (grep { !$_->socket } @listeners) {
        my $fd = delete $inherited->{ $l->proto . '|' . $l->spec };
        $l->adopt_fd($fd) if defined $fd && !$taken{$fd};
    }
    # sockets the new config no longer names
    POSIX::close($_) for grep { !$taken{$_} } values %$inherited;

    if (defined $ondemand_fd) {
        my @addr = Vassal::Listener::fd_address($ondemand_fd);
        my ($match) = grep { !$_->socket && $_->matches_address(@addr) } @listeners;
        $match //= (grep { !defined $_->named_fd } @listeners)[0];
        if (!$match && !@listeners) {
            my $spec = @addr == 2 ? ($addr[0] =~ /:/ ? "[$addr[0]]:$addr[1]" : "$addr[0]:$addr[1]")
                     : ($addr[0] // '/on-demand');
            $match = Vassal::Listener->new(spec => $spec, proto => 'http');
            push @listeners, $match;
        }
        if ($match) {
            $match->close if $match->socket;    # an inherited one: the Emperor's socket wins
            $match->adopt_fd($ondemand_fd);
        }
        else {
            vlog("not serving the socket at fd $ondemand_fd: every configured socket is an fd://N");
        }
    }
    die "no socket to serve on: set socket or http-socket\n" unless @listeners;
    return @listeners;
}

# The listening socket a vassal the Emperor spawned (not adopted) inherits
# at fd 0, as uWSGI's on-demand vassals do: 0, or undef when fd 0 is not a
# listening socket (closed, a tty, /dev/null, a pipe, a connected socket).
sub spawned_ondemand_fd {
    return defined Vassal::Listener::not_listening(0) ? undef : 0;
}

# A non-adopted vassal reloads by executing itself again with the same
# arguments, keeping its Emperor pipes and its listening sockets (uWSGI's
# binary reload). A config from the config pipe is asked for again (byte 2).
sub reexec {
    my ($self, $args, $emperor, $server) = @_;
    require Vassal::XS;
    my @keep;
    if ($server) {
        push @keep, grep defined, map { $_->keep_across_exec } $server->listeners;
    }
    if ($emperor && $emperor->fh) {
        Vassal::XS::set_cloexec($emperor->fd, 0);
        if (defined(my $cfd = $ENV{UWSGI_EMPEROR_FD_CONFIG})) {
            Vassal::XS::set_cloexec($cfd, 0) if $cfd =~ /\A[0-9]+\z/;
            $emperor->send(Vassal::Emperor::RECONFIG);
        }
    }
    $ENV{VASSAL_LISTEN_FDS} = join ';', @keep;
    my $script = Cwd::abs_path($self->{script}) // $self->{script};
    vlog("reloading: exec $script @$args");
    exec { $^X } $^X, $script, @$args;
    die "cannot exec $script: $!\n";
}

1;
__END__

=head1 NAME

Vassal::Runner - what psgi-vassal does with its options

=head1 SYNOPSIS

  use Vassal::Runner;

  # as bin/psgi-vassal does; returns the exit status (2 on a configuration error)
  my $rc = Vassal::Runner->new->run(['--no-such-option', 1]);
  print "exit status $rc\n";    # 2, after logging "unknown option '--no-such-option'"

=head1 DESCRIPTION

Parses the options with L<Vassal::Config>, names the log after the config
file, then, in uWSGI's order: sets C<env>, changes to C<chdir>, adds
C<perl-local-lib> to C<@INC>, runs the C<early-perl-exec> files and loads
C<early-psgi> - all before any socket or the Emperor pipe is touched. Then:

=over 4

=item * with C<fork-server>: runs C<perl-exec> and loads C<psgi> (unless an
early app was loaded) and runs a L<Vassal::ForkServer>. Something must have
been preloaded. An adopted vassal runs this runner again with only the argv
it received (argv[0] dropped), its process name set to that argv as uWSGI
does; it loads its own C<psgi> on top of what the base preloaded, or reuses
the base's early app. The base sends byte 1 (ready) to its Emperor only once
all that was preloaded and the fork server accepts on its socket.

=item * otherwise: runs C<perl-exec>, loads C<psgi> (or reuses the preloaded
app; with C<need-app> false and no app, every request gets 503; with it true,
the default, it exits with status 22), and runs a L<Vassal::Server> on its
C<socket>s and C<http-socket>s with C<processes> workers, C<harakiri>,
C<max-requests>, C<idle>/C<die-on-idle>, C<heartbeat>, C<procname>,
C<perl-exec-post-fork> (run in each worker) and the request limits
C<socket-timeout>, C<buffer-size>, C<limit-post>, C<post-buffering>.

=back

=head2 The socket at fd 0

An Emperor that binds a vassal's socket itself (an on-demand socket, or one
it holds for every generation of the vassal so that no connection is
refused while the vassal restarts) passes it as fd 0: an adopted vassal gets
it from the fork server (mask 0x04, C<ondemand_fd>), a spawned one inherits
it, as uWSGI's vassals do. A vassal that was not adopted serves fd 0 when it
is a listening socket (C<SO_ACCEPTCONN>); anything else there - closed, a
tty, F</dev/null>, a pipe, a connected socket - is ignored. An adopted
vassal looks at fd 0 only with mask 0x04 (otherwise its fd 0 is
F</dev/null>: the fork server never leaves it its base's fd 0).

A base vassal (C<fork-server>) never serves HTTP or uwsgi on fd 0. When fd 0
is the listening UNIX socket at its C<fork-server> path (compared after
resolving the path to absolute, as L<Vassal::ForkServer> does), the Emperor
binds and holds that socket for every generation of the base: the fork
server serves it instead of binding, does not apply C<chmod-socket> to it,
and never removes its file (see L<Vassal::ForkServer/The socket>). Any other
socket at fd 0 is left alone, as before.

The socket at fd 0 is served in place of the configured C<socket> or
C<http-socket> bound to the same address (the configured one is not bound,
so there is no "Address already in use", and a UNIX socket file is left to
its owner). When none has its address it is served in place of the first
configured socket (the rule adopted vassals have always followed: an
on-demand config that names another address still serves the Emperor's
socket), and as HTTP when no socket is configured. A
socket configured as C<fd://N> is that descriptor, never replaced; a vassal
whose sockets are all C<fd://N> leaves fd 0 alone (C<http-socket = fd://0>
names it explicitly, and so serves both a spawned and an adopted vassal).

A non-adopted vassal reloads (Emperor byte 1) by executing itself again once
its workers finished their requests, keeping the Emperor pipe, the config
pipe (asking for the config again with byte 2, as uWSGI does) and its
listening sockets (C<VASSAL_LISTEN_FDS>), so that no connection is refused
during the reload. The socket at fd 0 is among them, and is matched again by
its address after the reload, once.

=head1 METHODS

=over 4

=item new(script => $path_of_psgi_vassal)

=item run(\@args, preloaded_app => $app, adopted => $bool, ondemand_fd => $fd, title => $name)

=item load_app($path, $option_name), exec_perl($file, $option_name)

=item apply_environment($config), listeners($config, $ondemand_fd)

=item spawned_ondemand_fd - 0 when fd 0 is a listening socket (what a vassal that was
not adopted serves), else undef

=item reexec(\@args, $emperor, $server)

=back

=cut
