package Plack::Handler::Vassal;
use strict;
use warnings;
use Vassal::Server;
use Vassal::Listener;
use Vassal::Emperor;
use Vassal::Config;

our $VERSION = '0.01';

sub new {
    my ($class, %args) = @_;
    return bless {%args}, $class;
}

sub _opt {
    my ($self, @names) = @_;
    for my $n (@names) {
        for my $k ($n, ($n =~ tr/_/-/r), ($n =~ tr/-/_/r)) {
            return $self->{$k} if defined $self->{$k};
        }
    }
    return undef;
}

# The psgi-vassal $option (or a plackup alias of it), else its default: the
# handler has no defaults of its own.
sub _opt_or_default {
    my ($self, $option, @aliases) = @_;
    return $self->_opt($option, @aliases) // Vassal::Config->default($option);
}

sub run {
    my ($self, $app) = @_;
    my @listeners;
    # plackup's --listen is an address: psgi-vassal's listen (the queue) is backlog here
    my $backlog = $self->_opt('backlog') // Vassal::Config->default('listen');
    if (my $listen = $self->{listen}) {
        # plackup: --listen host:port, :port or a UNIX socket path (repeatable)
        for my $spec (ref $listen ? @$listen : ($listen)) {
            push @listeners, Vassal::Listener->new(spec => $spec, proto => 'http',
                                                   backlog => $backlog);
        }
    }
    else {
        my $host = $self->{host} // '0.0.0.0';
        my $port = $self->{port} // 5000;
        push @listeners, Vassal::Listener->new(spec => ($host =~ /:/ ? "[$host]:$port" : "$host:$port"),
                                               proto => 'http', backlog => $backlog);
    }
    # plackup passes a UNIX path given to --listen as `socket` too
    my %have = map { $_->spec => 1 } @listeners;
    for my $spec (ref $self->{socket} ? @{ $self->{socket} } : grep defined, $self->{socket}) {
        push @listeners, Vassal::Listener->new(spec => $spec, proto => 'http') unless $have{$spec}++;
    }
    my $workers = $self->_opt_or_default(qw(processes workers max_workers));
    my $keepalive = $self->_opt('keepalive_timeout');
    my $ready = $self->{server_ready};
    my $server = Vassal::Server->new(
        listeners    => \@listeners,
        workers      => $workers,
        emperor      => Vassal::Emperor->from_env,
        max_requests => $self->_opt_or_default('max-requests'),
        harakiri     => $self->_opt_or_default('harakiri'),
        worker_options => {
            socket_timeout => $self->_opt_or_default(qw(socket-timeout timeout)),
            (defined $keepalive ? (keepalive_timeout => $keepalive) : ()),
            buffer_size    => $self->_opt_or_default('buffer-size'),
            limit_post     => $self->_opt_or_default('limit-post'),
            post_buffering => $self->_opt_or_default('post-buffering'),
            max_connections => $self->_opt_or_default('worker-connections'),
        },
        server_ready => sub {
            my ($s) = @_;
            my $l = ($s->listeners)[0];
            $ready->({
                host            => $l->is_unix ? $l->server_name : $l->server_name,
                port            => $l->server_port,
                proto           => 'http',
                server_software => 'Vassal',
            }) if $ready;
        },
    );
    return $server->run($app);
}

1;
__END__

=head1 NAME

Plack::Handler::Vassal - run a PSGI app on Vassal's prefork server (plackup -s Vassal)

=head1 SYNOPSIS

  # plackup -s Vassal --listen 127.0.0.1:5000 --workers 4 app.psgi

  use Plack::Handler::Vassal;
  my $handler = Plack::Handler::Vassal->new(host => '127.0.0.1', port => 0, workers => 1,
      server_ready => sub { my $args = shift; print "port $args->{port}\n"; kill 'TERM', $$ });
  $handler->run(sub { [200, ['Content-Type' => 'text/plain'], ["hi\n"]] });

=head1 DESCRIPTION

A Plack handler that runs L<Vassal::Server>: a master and prefork workers
serving HTTP/1.1 with the C request loop of L<Vassal::Worker>. Options, as
plackup passes them: C<listen> (C<host:port>, C<:port> or a UNIX socket path;
repeatable), or C<host> (0.0.0.0) and C<port> (5000); C<socket> (a UNIX
socket path); C<workers> (alias C<processes>, C<max-workers>); C<max-requests>;
C<harakiri>; C<timeout> (alias C<socket-timeout>: seconds a client may stay
silent); C<keepalive-timeout> (idle keep-alive connections, default the same
as C<timeout>); C<backlog> (psgi-vassal's C<listen>); C<buffer-size>;
C<limit-post>; C<post-buffering>; C<worker-connections>; C<server_ready>.
Every default is psgi-vassal's, from the one table in L<Vassal::Config>
(C<psgi-vassal --help> lists them): one worker, C<timeout> 4 (as uWSGI's
C<socket-timeout>), C<backlog> 100, C<limit-post> 1 GiB. Under an
Emperor (C<UWSGI_EMPEROR_FD>) it speaks the Emperor pipe like any vassal.

=cut
