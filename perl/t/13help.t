# `psgi-vassal --help` prints its usage and options; `--version` its version;
# both exit 0, and neither is taken for a config key.
use strict;
use warnings;
use FindBin;
use Test::More;

my $bin = "$FindBin::Bin/../bin/psgi-vassal";
my $help = qx{$^X $bin --help 2>&1};
is $? >> 8, 0, '--help exits 0';
like $help, qr/Usage:/, 'it prints the usage';
like $help, qr/--http-socket/, 'and the options';
like $help, qr/--fork-server/, 'including the fork server';

my $version = qx{$^X $bin --version 2>&1};
is $? >> 8, 0, '--version exits 0';
like $version, qr/^psgi-vassal \d+\.\d+/, 'it prints the version';

my $err = qx{$^X $bin --psgi x.psgi --help 2>&1};
isnt $? >> 8, 0, '--help among other options is a config key, and unknown';
like $err, qr/unknown option/, 'named as such';
done_testing;
