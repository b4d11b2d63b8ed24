# The XS codec's limits and error messages.
use strict;
use warnings;
use Test::More;
use Vassal::Packet qw(:all);

sub dies_like(&$$) {
    my ($code, $re, $name) = @_;
    eval { $code->() };
    like $@, $re, $name;
}

is encode_packet(1, 2, ''), "\x01\x00\x00\x02", 'empty body';
is_deeply [decode_packet("\x01\x00\x00\x02")], [1, 2, ''], 'decode empty body';
is encode_packet(0, 0, 'x' x 65535), "\x00\xff\xff\x00" . ('x' x 65535), 'largest body';

dies_like { encode_packet(0, 0, 'x' x 65536) } qr/body is 65536 bytes, more than 65535/, 'body too large';
dies_like { encode_packet(256, 0, '') } qr/modifier1 256 is not a byte/, 'modifier1 range';
dies_like { encode_packet(0, -1, '') } qr/modifier2 -1 is not a byte/, 'modifier2 range';
dies_like { decode_packet("\x23\x01") } qr/malformed: truncated header \(2 of 4 bytes\)/, 'truncated header';
dies_like { decode_packet("\x23\x02\x00\x00a") } qr/malformed: truncated body \(header says 2 bytes, got 1\)/, 'truncated body';
dies_like { decode_packet("\x23\x01\x00\x00ab") } qr/malformed: 1 trailing byte\(s\) after the 1-byte body/, 'trailing bytes';

# arrays
is encode_array([]), '', 'empty array';
is_deeply [decode_array('')], [], 'decode empty array';
is encode_array(['a', '', 'bc']), "\x01\x00a\x00\x00\x02\x00bc", 'array with an empty item';
is_deeply [decode_array("\x01\x00a\x00\x00\x02\x00bc")], ['a', '', 'bc'], 'decode it';
is encode_array('a', 'b'), "\x01\x00a\x01\x00b", 'encode_array takes a list too';
dies_like { decode_array("\x01") } qr/malformed: array item 0 at offset 0: truncated length \(1 byte\(s\) left, need 2\)/, 'truncated length';
dies_like { decode_array("\x01\x00a\x05\x00ab") } qr/malformed: array item 1 at offset 3: length 5 overruns the body \(2 byte\(s\) left\)/, 'second item overruns';
dies_like { decode_array('x' x 65536) } qr/malformed: array body is 65536 bytes, more than 65535/, 'array body too large';
dies_like { encode_array(['x' x 65534]) } qr/array body is 65536 bytes/, 'encoded array too large';
dies_like { encode_array([undef]) } qr/array item 0 is undefined/, 'undef item';

# wide characters are refused (bytes only)
dies_like { encode_array(["\x{263a}"]) } qr/Wide character/, 'wide character';

# dicts
is encode_dict([b => 1, a => 2]), "\x01\x00b\x01\x001\x01\x00a\x01\x002", 'pairs keep their order';
is encode_dict({b => 1, a => 2}), "\x01\x00a\x01\x002\x01\x00b\x01\x001", 'hash keys are sorted';
is_deeply [decode_dict("\x01\x00a\x01\x002\x01\x00a\x00\x00")], [a => 2, a => ''], 'repeated keys kept';
dies_like { encode_dict([1, 2, 3]) } qr/odd number of elements/, 'odd pair list';
dies_like { decode_dict("\x01\x00a") } qr/malformed: dict value 0 at offset 3: truncated length/, 'key without value';
dies_like { decode_dict("\x01\x00a\x09\x00xy") } qr/malformed: dict value 0 at offset 3: length 9 overruns/, 'value overruns';
dies_like { decode_dict('x' x 70000) } qr/more than 65535/, 'dict body too large';

# fork-server requests
my $req = encode_fork_request(0x03, '/bin/x', '--ini', 'a.ini');
my ($mask, @argv) = decode_fork_request($req);
is $mask, 3, 'mask';
is_deeply \@argv, ['/bin/x', '--ini', 'a.ini'], 'argv';
dies_like { decode_fork_request(encode_packet(35, 0x02, encode_array(['x']))) } qr/invalid descriptor mask 0x02/, 'mask without the Emperor pipe';
dies_like { decode_fork_request(encode_packet(35, 0x09, encode_array(['x']))) } qr/invalid descriptor mask 0x09/, 'unknown mask bit';
dies_like { decode_fork_request(encode_packet(35, 0x01, '')) } qr/empty argv/, 'empty argv';
is Vassal::Packet::fds_for_mask(0x05), 2, 'mask 0x05: two descriptors';

done_testing;
