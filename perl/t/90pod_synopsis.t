# Every module has POD starting with a SYNOPSIS, and that SYNOPSIS runs.
use strict;
use warnings;
use Test::More;
use File::Find;
use File::Temp qw(tempfile);
use FindBin;
use Cwd ();

my $root = Cwd::abs_path("$FindBin::Bin/..");
my @modules;
find(sub { push @modules, $File::Find::name if /\.pm\z/ }, "$root/lib");
@modules = sort @modules;
ok @modules >= 10, 'modules found';

my @inc = map { "-I$_" } grep { -d } "$root/blib/lib", "$root/blib/arch";
@inc = ("-I$root/lib") unless @inc;

for my $file (@modules) {
    (my $name = $file) =~ s{\A\Q$root\E/lib/}{};
    open my $fh, '<', $file or die "$file: $!";
    my $text = do { local $/; <$fh> };
    my @heads = $text =~ /^=head1\s+(\S+)/mg;
    is_deeply [@heads[0, 1]], ['NAME', 'SYNOPSIS'], "$name: POD starts with NAME and SYNOPSIS";
    my ($synopsis) = $text =~ /^=head1\s+SYNOPSIS\s*\n(.*?)^=(?:head|cut)/ms;
    ok defined $synopsis && $synopsis =~ /\S/, "$name: has a SYNOPSIS" or next;
    $synopsis =~ s/^  //mg;
    my ($tfh, $tmp) = tempfile(UNLINK => 1, SUFFIX => '.pl');
    print $tfh "use strict; use warnings;\n$synopsis\n";
    close $tfh;
    my $out = `$^X @inc $tmp 2>&1 < /dev/null`;
    is $?, 0, "$name: SYNOPSIS runs" or diag $out;
}

done_testing;
