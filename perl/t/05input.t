# Vassal::Input, the psgi.input of a request: read with length and offset,
# seek/tell, getline by $/, eof, close.
use strict;
use warnings;
use Test::More;
use Vassal::XS;

my $in = Vassal::Input->new("hello world\nsecond line\nthird");
isa_ok $in, 'Vassal::Input';

my $buf;
is $in->read($buf, 5), 5, 'read 5';
is $buf, 'hello', 'the bytes';
is $in->tell, 5, 'tell';
is $in->read($buf, 3, 5), 3, 'read at an offset';
is $buf, 'hello wo', 'appended at the offset';
is $in->read($buf, 2, 10), 2, 'an offset past the end pads with NUL';
is $buf, "hello wo\0\0rl", 'padded';
is $in->read($buf, 1, -1), 1, 'a negative offset counts from the end';
is $buf, "hello wo\0\0rd", 'replaced the last byte';
ok $in->seek(0, 0), 'seek to the start';
is $in->getline, "hello world\n", 'getline';
is_deeply [$in->getlines], ["second line\n", 'third'], 'getlines';
ok $in->eof, 'eof';
is $in->read($buf, 10), 0, 'read at EOF returns 0';
is $in->getline, undef, 'getline at EOF is undef';
ok $in->seek(-5, 2), 'seek from the end';
is $in->getline, 'third', 'from there';
ok $in->seek(6, 0) && $in->seek(-1, 1), 'seek relative';
{
    local $/;
    is $in->getline, " world\nsecond line\nthird", 'slurp with $/ undef';
}
$in->seek(0, 0);
{
    local $/ = \4;
    is $in->getline, 'hell', 'a record with $/ = \4';
}
{
    local $/ = 'o';
    is $in->getline, 'o', 'a custom separator';
    is $in->getline, ' wo', 'again';
}
ok !$in->seek(-100, 0), 'a negative position fails';
ok $in->close, 'close';
is $in->fileno, undef, 'no fileno in memory';
eval { $in->read($buf, -1) };
like $@, qr/Negative length/, 'a negative length dies';

my $empty = Vassal::Input->new;
is $empty->read(my $e, 10), 0, 'empty';
is $e, '', 'nothing read';

done_testing;
