package Vassal::Runner;
use strict;
use warnings;
use Cwd ();
use Plack::Util;
use Vassal::Config;
use Vassal::Log qw(vlog);
use Vassal::Emperor;

our $VERSION = '0.01';

sub new {
    my ($class, %args) = @_;
    return bless {
        script => $0,          # re-executed on reload (a non-adopted vassal)
        %args,
    }, $class;
}

# Runs psgi-vassal with @args (argv without argv[0]). Returns the exit status.
# Options: preloaded_app (an adopted vassal reuses it when its config names
# no psgi), adopted, ondemand_fd.
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
        return 1;
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

sub _run {
    my ($self, $config, $args, %opt) = @_;
    my $app;
    # early-psgi: the app is loaded before anything else (sockets, Emperor)
    if (defined(my $early = $config->get('early-psgi'))) {
        $app = $self->load_app($early, 'early-psgi');
        vlog("loaded early-psgi $early");
    }
    my $emperor = Vassal::Emperor->from_env;

    if (defined(my $path = $config->get('fork-server'))) {
        die "fork-server and http-socket cannot be combined\n" if $config->is_set('http-socket');
        if (!$app && defined(my $psgi = $config->get('psgi'))) {
            $app = $self->load_app($psgi, 'psgi');
            vlog("loaded psgi $psgi");
        }
        die "fork-server needs an app to preload (early-psgi or psgi)\n" unless $app;
        require Vassal::ForkServer;
        require Vassal::Server;    # shared with every adopted vassal
        my $fs = Vassal::ForkServer->new(
            path     => $path,
            emperor  => $emperor,
            on_adopt => sub {
                my ($argv, $info) = @_;
                my @argv = @$argv;
                shift @argv;    # the binary: we do not exec it
                Vassal::Log->name('psgi-vassal');
                return ref($self)->new(script => $self->{script})->run(\@argv,
                    preloaded_app => $app, adopted => 1, ondemand_fd => $info->{ondemand_fd});
            },
        );
        return $fs->run;
    }

    if (defined(my $psgi = $config->get('psgi'))) {
        $app = $self->load_app($psgi, 'psgi');
        vlog("loaded psgi $psgi");
    }
    $app ||= $opt{preloaded_app};
    die "no app to serve: set psgi\n" unless $app;

    my @sockets = $config->get_all('http-socket');
    die "only one http-socket is supported for now (got @sockets)\n" if @sockets > 1;
    die "no http-socket to serve on\n" unless @sockets || defined $opt{ondemand_fd};

    require Vassal::Server;
    my $server = Vassal::Server->new(
        (defined $opt{ondemand_fd} ? (listen_fd => $opt{ondemand_fd}) : (listen => $sockets[0])),
        workers => $config->get('processes') // 1,
        emperor => $emperor,
        adopted => $opt{adopted} ? 1 : 0,
        ($opt{adopted} ? () : (on_reload => sub { $self->reexec($args, $emperor) })),
    );
    return $server->run($app);
}

# A non-adopted vassal reloads by executing itself again with the same
# arguments (keeping its Emperor pipe).
sub reexec {
    my ($self, $args, $emperor) = @_;
    require Vassal::XS;
    Vassal::XS::set_cloexec($emperor->fd, 0) if $emperor && $emperor->fh;
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
file, then:

=over 4

=item * with C<fork-server>: loads C<early-psgi> (before anything else) or
C<psgi>, and runs a L<Vassal::ForkServer> whose adopted vassals run this
runner again with only the argv they received (argv[0] dropped), reusing the
preloaded app when their config names no C<psgi> of their own;

=item * otherwise: loads C<psgi> (or reuses the preloaded app) and runs a
L<Vassal::Server> on C<http-socket> (or on the on-demand socket, fd 0, that
the fork server passed) with C<processes> workers.

=back

A non-adopted vassal reloads (Emperor byte 1) by executing itself again.

=head1 METHODS

=over 4

=item new(script => $path_of_psgi_vassal)

=item run(\@args, preloaded_app => $app, adopted => $bool, ondemand_fd => $fd)

=item load_app($path, $option_name)

=back

=cut
