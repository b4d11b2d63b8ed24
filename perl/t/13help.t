# `psgi-vassal --help` prints its usage and every option the config table
# knows, with its default (the help is generated from that table, so none can
# be left out); --help and --version win over any other argument; the manual
# (POD) has an entry for every option and states the table's defaults.
use strict;
use warnings;
use FindBin;
use Test::More;
use Vassal::Config;

my $bin = "$FindBin::Bin/../bin/psgi-vassal";
my $help = qx{$^X $bin --help 2>&1};
is $? >> 8, 0, '--help exits 0';
like $help, qr/Usage:/, 'it prints the usage';

my %alias_of = reverse Vassal::Config->aliases;
for my $name (Vassal::Config->options) {
    my ($para) = $help =~ /^  (--\Q$name\E\b.*?)(?=^  --|\z)/ms;
    ok $para, "--help lists --$name" or next;
    my $default = Vassal::Config->default($name);
    next unless defined $default;
    my $shown = $para =~ /\[BOOL\]/ ? ($default ? 'true' : 'false') : $default;
    like $para =~ s/\s+/ /gr, qr/\(default \Q$shown\E\)/, "--help gives --$name its default ($shown)";
}
like $help, qr/^  --processes N, --workers N$/m, 'an alias is listed with its option';

# The manual: an =item for each option, and the table's default where it states one.
my $pod = do { local (@ARGV, $/) = $bin; <> };
for my $name (Vassal::Config->options) {
    my ($item) = $pod =~ /^=item [^\n]*--\Q$name\E\b[^\n]*\n(.*?)(?=^=)/ms;
    ok defined $item, "the manual has an entry for --$name" or next;
    my $default = Vassal::Config->default($name);
    my ($stated) = $item =~ /\(default ([0-9]+)[,;)]/;
    is $stated, $default, "the manual's default for --$name is the table's" if defined $stated;
}

my $version = qx{$^X $bin --version 2>&1};
is $? >> 8, 0, '--version exits 0';
like $version, qr/^psgi-vassal \d+\.\d+/, 'it prints the version';

my $out = qx{$^X $bin --psgi x.psgi --help 2>&1};
is $? >> 8, 0, '--help among other options still prints the help';
like $out, qr/Usage:.*--socket-timeout/s, 'the whole help, not a config error';
$out = qx{$^X $bin --http-socket 127.0.0.1:1 --version --psgi /nonexistent 2>&1};
is $? >> 8, 0, '--version among other options exits 0';
like $out, qr/^psgi-vassal \d+\.\d+\n\z/, 'and prints only the version';
done_testing;
