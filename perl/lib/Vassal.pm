package Vassal;
use strict;
use warnings;

our $VERSION = '0.01';

use Vassal::XS ();

1;
__END__

=head1 NAME

Vassal - uWSGI 2.1 wire-compatible PSGI vassals and fork server

=head1 SYNOPSIS

  use Vassal;
  use Vassal::Packet qw(encode_packet decode_packet);

  my $bytes = encode_packet(35, 0, Vassal::Packet::encode_dict([pid => $$]));
  my ($m1, $m2, $body) = decode_packet($bytes);
  print "modifier1=$m1 pid=", {Vassal::Packet::decode_dict($body)}->{pid}, "\n";

=head1 DESCRIPTION

Vassal is the Perl side of a uWSGI-2.1-wire-compatible system: an Emperor
(written in Java, or uWSGI itself) supervises PSGI I<vassals>. A I<base>
vassal preloads a PSGI application and runs a fork server on a UNIX socket;
the Emperor asks it for I<adopted> vassals, each a double fork of it that
shares its memory copy-on-write.

The distribution is layered in small modules:

=over 4

=item L<Vassal::XS> - XS glue: descriptor passing, credentials, the packet codec, prctl, the worker loop in C.

=item L<Vassal::Packet> - the uwsgi packet codec.

=item L<Vassal::Config> - options, command line and ini files.

=item L<Vassal::Log> - logging to STDERR with the vassal's name and pid.

=item L<Vassal::Emperor> - the one-byte Emperor pipe.

=item L<Vassal::ForkServer> - the fork server.

=item L<Vassal::Listener> - a socket or http-socket (TCP or UNIX).

=item L<Vassal::Server> - the prefork vassal's master: workers, harakiri, idle, heartbeat, reload.

=item L<Vassal::Worker> - a worker: the request loop in C, the Perl side of responses.

=item L<Vassal::Runner> - what C<psgi-vassal> does with its options.

=item L<Plack::Handler::Vassal> - C<plackup -s Vassal>.

=back

See L<psgi-vassal> for the command line.

=head1 LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
