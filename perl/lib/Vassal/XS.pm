package Vassal::XS;
use strict;
use warnings;

our $VERSION = '0.01';

require XSLoader;
XSLoader::load('Vassal', $VERSION);

1;
__END__

=head1 NAME

Vassal::XS - XS glue of Vassal: descriptor passing, credentials, codec, prctl

=head1 SYNOPSIS

  use Vassal::XS;
  use POSIX ();
  use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);

  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
  pipe(my $r, my $w) or die $!;

  # play the Emperor: one packet, one descriptor
  my $pkt = Vassal::XS::packet_encode(35, 0x01,
      Vassal::XS::array_encode(['/usr/bin/psgi-vassal', '--ini', 'app.ini']));
  Vassal::XS::send_fds(fileno $a, $pkt, [fileno $w]);

  # play the fork server
  my $req = Vassal::XS::recv_request(fileno $b, 5);
  my @argv = Vassal::XS::array_decode($req->{body});
  POSIX::close($_) for @{ $req->{fds} };
  print "got @argv from pid $req->{pid}\n";

=head1 DESCRIPTION

All functions croak on error with a message that names what is wrong.

=over 4

=item recv_request($fd, $timeout_seconds)

Reads exactly one uwsgi packet (4-byte header plus the body it announces) from
the connected UNIX stream socket C<$fd>, collecting the C<SCM_RIGHTS>
descriptors that come with it (received close-on-exec; at most 8 are
accepted) and the peer's credentials (C<SO_PEERCRED>). The whole read is
bounded by C<$timeout_seconds>. Returns a hash reference
C<< {modifier1, modifier2, body, fds => [...], pid, uid, gid} >>. On timeout,
EOF mid-packet, too many descriptors or a read error it closes every
descriptor it received and croaks.

=item peer_cred($fd)

Returns C<($pid, $uid, $gid)> of the peer of a UNIX socket.

=item send_fds($fd, $bytes, \@fds)

One C<sendmsg> of C<$bytes> (at least one byte) with C<@fds> attached as one
C<SCM_RIGHTS> message. Returns the number of bytes sent.

=item packet_encode($modifier1, $modifier2, $body)

=item packet_decode($bytes)

Strict: returns C<($modifier1, $modifier2, $body)> or croaks with
C<malformed: truncated header ...>, C<malformed: truncated body ...> or
C<malformed: N trailing byte(s) ...>.

=item array_encode(\@items), array_decode($body)

=item dict_encode(\@pairs or \%hash), dict_decode($body)

Items are C<u16 LE length + bytes>. Decoders return flat lists and croak with
C<malformed: ... overruns the body ...> when an item overruns; a body longer
than 65535 bytes is refused by both directions. C<dict_encode> of a hash
encodes keys in sorted order.

=item set_pdeathsig($signum)

C<prctl(PR_SET_PDEATHSIG)>: the calling process gets C<$signum> when its parent dies.

=item set_child_subreaper($on = 1)

C<prctl(PR_SET_CHILD_SUBREAPER)>: orphaned descendants re-parent to the caller.

=item set_cloexec($fd, $on)

Sets or clears C<FD_CLOEXEC> on C<$fd>.

=back

=cut
