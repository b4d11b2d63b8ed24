# The CLI refuses what it does not understand, naming it, with exit status 2.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use EmperorTest qw(root);

my $jar = root() . '/target/emperor.jar';
for my $case (
    [['--no-such-flag'], qr/--no-such-flag/],
    [['--reload-mercy', 'soon'], qr/--reload-mercy.*soon|soon.*--reload-mercy/],
    [['--emperor'], qr/--emperor/],
) {
    my ($args, $names) = @$case;
    my $out = qx{java -jar '$jar' @$args 2>&1};
    is $? >> 8, 2, "@$args: exit status 2";
    like $out, $names, "@$args: the message names it";
}
my $help = qx{java -jar '$jar' --help 2>&1};
is $? >> 8, 0, '--help exits 0';
like $help, qr/--emperor-use-fork-server/, '--help lists the flags';
done_testing;
