package Plack::Handler::Vassal;
use strict;
use warnings;
use Vassal::Server;
use Vassal::Emperor;

our $VERSION = '0.01';

sub new {
    my ($class, %args) = @_;
    return bless {%args}, $class;
}

sub run {
    my ($self, $app) = @_;
    my ($host, $port);
    if (my $listen = $self->{listen}) {
        my @listen = ref $listen ? @$listen : ($listen);
        die "Plack::Handler::Vassal: only one --listen is supported for now\n" if @listen > 1;
        die "Plack::Handler::Vassal: UNIX sockets are not supported for --listen ($listen[0])\n"
            if $listen[0] !~ /:[0-9]+\z/ && $listen[0] !~ /\A[0-9]+\z/;
        ($host, $port) = Vassal::Server::parse_address($listen[0]);
    }
    else {
        $host = $self->{host} // '0.0.0.0';
        $port = $self->{port} // 5000;
    }
    my $workers = $self->{workers} // $self->{processes} // $self->{'max-workers'}
               // $self->{max_workers} // 5;
    my $ready = $self->{server_ready};
    my $server = Vassal::Server->new(
        listen  => $host =~ /:/ ? "[$host]:$port" : "$host:$port",
        workers => $workers,
        emperor => Vassal::Emperor->from_env,
        (defined $self->{keepalive_timeout} || defined $self->{'keepalive-timeout'}
            ? (http_options => { keepalive_timeout => $self->{keepalive_timeout} // $self->{'keepalive-timeout'} })
            : ()),
        server_ready => sub {
            my ($s) = @_;
            $ready->({
                host            => $host,
                port            => $s->listen_socket->sockport,
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
serving HTTP/1.1. Options, as plackup passes them: C<listen> (one
C<host:port>), or C<host> (0.0.0.0) and C<port> (5000); C<workers> (alias
C<processes>, C<max-workers>; default 5); C<keepalive-timeout>;
C<server_ready>. Under an Emperor (C<UWSGI_EMPEROR_FD>) it speaks the Emperor
pipe like any vassal.

=cut
