package Vassal::Packet;
use strict;
use warnings;
use Vassal::XS ();
use Exporter 'import';

our $VERSION = '0.01';

our @EXPORT_OK = qw(
    encode_packet decode_packet
    encode_array decode_array
    encode_dict decode_dict
    encode_fork_request decode_fork_request
    encode_fork_reply decode_fork_reply
    MODIFIER1_FORK_SERVER MODIFIER1_CONFIG
    FD_EMPEROR FD_CONFIG FD_ONDEMAND
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

use constant {
    MODIFIER1_FORK_SERVER => 35,
    MODIFIER1_CONFIG      => 115,
    FD_EMPEROR            => 0x01,
    FD_CONFIG             => 0x02,
    FD_ONDEMAND           => 0x04,
};

*encode_packet = \&Vassal::XS::packet_encode;
*decode_packet = \&Vassal::XS::packet_decode;
*decode_array  = \&Vassal::XS::array_decode;
*decode_dict   = \&Vassal::XS::dict_decode;

sub encode_array { Vassal::XS::array_encode(ref $_[0] ? $_[0] : [@_]) }
sub encode_dict  { Vassal::XS::dict_encode(ref $_[0] ? $_[0] : [@_]) }

# Number of descriptors a fork-server modifier2 mask announces, or undef when
# the mask is invalid (no Emperor pipe, or unknown bits).
sub fds_for_mask {
    my ($mask) = @_;
    return undef unless $mask & FD_EMPEROR;
    return undef if $mask & ~(FD_EMPEROR | FD_CONFIG | FD_ONDEMAND);
    my $n = 0;
    $mask & $_ and $n++ for FD_EMPEROR, FD_CONFIG, FD_ONDEMAND;
    return $n;
}

# Validate the parts of a fork-server request (header fields and body) and
# return its argv. Dies with the reason it is refused.
sub check_fork_request {
    my ($modifier1, $modifier2, $body) = @_;
    die "wrong modifier1 $modifier1 (fork-server requests use 35)\n"
        unless $modifier1 == MODIFIER1_FORK_SERVER;
    die sprintf("invalid descriptor mask 0x%02x (bit 0x01 must be set; only 0x01, 0x02, 0x04 are known)\n", $modifier2)
        unless defined fds_for_mask($modifier2);
    my @argv = eval { decode_array($body) };
    if (my $e = $@) {
        $e =~ s/ at \S+ line \d+\.?\n?\z//;
        die "malformed argv: $e\n";
    }
    die "empty argv\n" unless @argv;
    return @argv;
}

sub encode_fork_request {
    my ($mask, @argv) = @_;
    return encode_packet(MODIFIER1_FORK_SERVER, $mask, encode_array(\@argv));
}

# Returns ($mask, @argv) or dies with the reason.
sub decode_fork_request {
    my ($bytes) = @_;
    my ($m1, $m2, $body) = eval { decode_packet($bytes) };
    if (my $e = $@) { $e =~ s/ at \S+ line \d+\.?\n?\z//; die "$e\n" }
    my @argv = check_fork_request($m1, $m2, $body);
    return ($m2, @argv);
}

sub encode_fork_reply {
    my ($pid, @more) = @_;
    return encode_packet(MODIFIER1_FORK_SERVER, 0, encode_dict([pid => $pid, @more]));
}

# Returns the pid (the dict's first 'pid' key) or dies.
sub decode_fork_reply {
    my ($bytes) = @_;
    my ($m1, $m2, $body) = decode_packet($bytes);
    die "wrong modifier1 $m1 in fork-server reply\n" unless $m1 == MODIFIER1_FORK_SERVER;
    my @kv = decode_dict($body);
    while (my ($k, $v) = splice @kv, 0, 2) {
        return $v if $k eq 'pid';
    }
    die "no pid in fork-server reply\n";
}

1;
__END__

=head1 NAME

Vassal::Packet - the uwsgi packet codec (array and dict bodies, fork-server requests)

=head1 SYNOPSIS

  use Vassal::Packet qw(:all);

  my $req = encode_fork_request(FD_EMPEROR, '/usr/local/bin/uwsgi', '--ini', 'app1.ini');
  my ($mask, @argv) = decode_fork_request($req);      # (1, '/usr/local/bin/uwsgi', ...)

  my $reply = encode_fork_reply(4242);                # 23 0b 00 00 03 00 'pid' 04 00 '4242'
  my $pid   = decode_fork_reply($reply);              # 4242

  my ($m1, $m2, $body) = decode_packet($reply);
  my %dict = decode_dict($body);
  print "$mask @argv $pid $dict{pid}\n";

=head1 DESCRIPTION

A thin Perl API over the XS codec in L<Vassal::XS>. A uwsgi packet is
C<modifier1 (u8), pktsize (u16 LE), modifier2 (u8)> and C<pktsize> bytes of
body. Bodies are I<arrays> (items of C<u16 LE length + bytes>) or I<dicts>
(pairs of such items). Every decoder is strict and dies with a precise reason
starting with C<malformed:>; nothing larger than 65535 bytes is encoded or
decoded.

=head1 FUNCTIONS

=over 4

=item encode_packet($modifier1, $modifier2, $body), decode_packet($bytes)

=item encode_array(\@items | @items), decode_array($body)

=item encode_dict(\@pairs | \%hash | @pairs), decode_dict($body)

C<decode_dict> returns the flat list of pairs, in wire order.

=item encode_fork_request($mask, @argv), decode_fork_request($bytes)

A fork-server request: modifier1 35, modifier2 the descriptor mask
(C<FD_EMPEROR> 0x01, C<FD_CONFIG> 0x02, C<FD_ONDEMAND> 0x04), body the argv
array. The decoder also refuses a wrong modifier1, an invalid mask, a
malformed or empty argv.

=item check_fork_request($modifier1, $modifier2, $body)

The checks of C<decode_fork_request> on already separated parts; returns argv.

=item fds_for_mask($mask)

How many descriptors a mask announces; undef for an invalid mask.

=item encode_fork_reply($pid, @more_pairs), decode_fork_reply($bytes)

The fork server's reply: modifier1 35, modifier2 0, dict C<< {pid => $pid} >>.

=back

=cut
