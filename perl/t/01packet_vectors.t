# The shared byte vectors (t/vectors): good ones decode and re-encode byte for byte, bad
# ones are refused with their specific reason.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::Packet qw(:all);

# t/vectors: the copy of ../shared/vectors shipped with the distribution
my $dir = vectors_dir();

sub vector {
    my ($name) = @_;
    open my $fh, '<:raw', "$dir/$name" or die "$dir/$name: $!";
    local $/;
    return scalar <$fh>;
}

subtest 'request-ini.bin' => sub {
    my $bytes = vector('request-ini.bin');
    my ($m1, $m2, $body) = decode_packet($bytes);
    is $m1, 35, 'modifier1 35';
    is $m2, 0x01, 'mask 0x01';
    my @argv = decode_array($body);
    is_deeply \@argv, ['/usr/local/bin/uwsgi', '--ini', 'app1.ini'], 'argv';
    is encode_packet($m1, $m2, encode_array(\@argv)), $bytes, 're-encodes byte for byte';
    my ($mask, @argv2) = decode_fork_request($bytes);
    is $mask, 1, 'decode_fork_request mask';
    is_deeply \@argv2, \@argv, 'decode_fork_request argv';
    is encode_fork_request($mask, @argv2), $bytes, 'encode_fork_request byte for byte';
};

subtest 'request-config-ondemand.bin' => sub {
    my $bytes = vector('request-config-ondemand.bin');
    my ($mask, @argv) = decode_fork_request($bytes);
    is $mask, 0x07, 'mask 0x07';
    is Vassal::Packet::fds_for_mask($mask), 3, 'three descriptors';
    is_deeply \@argv, ['/usr/local/bin/uwsgi', '--ini', 'emperor://app2.ini'], 'argv';
    is encode_fork_request($mask, @argv), $bytes, 're-encodes byte for byte';
};

subtest 'response-pid.bin' => sub {
    my $bytes = vector('response-pid.bin');
    my ($m1, $m2, $body) = decode_packet($bytes);
    is $m1, 35, 'modifier1 35';
    is $m2, 0, 'modifier2 0';
    is_deeply [decode_dict($body)], [pid => '4242'], 'dict';
    is decode_fork_reply($bytes), 4242, 'decode_fork_reply';
    is encode_fork_reply(4242), $bytes, 'encode_fork_reply byte for byte';
    is encode_packet(35, 0, encode_dict([pid => 4242])), $bytes, 'dict from pairs';
    is encode_packet(35, 0, encode_dict({pid => 4242})), $bytes, 'dict from a hash';
};

subtest 'config-packet.bin' => sub {
    my $bytes = vector('config-packet.bin');
    my ($m1, $m2, $body) = decode_packet($bytes);
    is $m1, 115, 'modifier1 115';
    is $m2, 0, 'modifier2 0';
    is $body, "[uwsgi]\nhttp-socket = 127.0.0.1:8081\nprocesses = 2\n", 'raw config text';
    is encode_packet($m1, $m2, $body), $bytes, 're-encodes byte for byte';
};

subtest 'bad-item-overruns.bin' => sub {
    my $bytes = vector('bad-item-overruns.bin');
    my ($m1, $m2, $body) = decode_packet($bytes);    # the framing itself is fine
    eval { decode_array($body) };
    like $@, qr/malformed: array item 0 at offset 0: length 200 overruns the body \(4 byte\(s\) left\)/,
        'array item overruns';
    eval { decode_fork_request($bytes) };
    like $@, qr/\Amalformed argv: malformed: array item 0 .* overruns/, 'fork request refused';
};

subtest 'bad-modifier1.bin' => sub {
    my $bytes = vector('bad-modifier1.bin');
    my ($m1) = decode_packet($bytes);
    is $m1, 0, 'modifier1 0';
    eval { decode_fork_request($bytes) };
    like $@, qr/\Awrong modifier1 0 \(fork-server requests use 35\)/, 'refused for its modifier1';
};

subtest 'bad-truncated-body.bin' => sub {
    my $bytes = vector('bad-truncated-body.bin');
    eval { decode_packet($bytes) };
    like $@, qr/malformed: truncated body \(header says 39 bytes, got 36\)/, 'truncated body';
    eval { decode_fork_request($bytes) };
    like $@, qr/\Amalformed: truncated body/, 'fork request refused';
};

# every vector in the directory is covered
my %covered = map { $_ => 1 } qw(request-ini.bin request-config-ondemand.bin response-pid.bin
    config-packet.bin bad-item-overruns.bin bad-modifier1.bin bad-truncated-body.bin);
opendir my $dh, $dir or die $!;
my @unknown = grep { /\.bin\z/ && !$covered{$_} } readdir $dh;
is_deeply \@unknown, [], 'no vector left untested' or diag "untested: @unknown";

done_testing;
