# The Perl distribution ships a copy of the wire vectors (perl/t/vectors), so
# that its tests run from the CPAN tarball, far from ../shared. The copy must
# be ../shared/vectors exactly: the same files, byte for byte, and each one in
# perl/MANIFEST (else the tarball would lack it).
use strict;
use warnings;
use FindBin;
use Cwd ();
use Test::More;

my $root = Cwd::abs_path("$FindBin::Bin/..");
my $shared = Cwd::abs_path("$root/../shared/vectors");
my $copy = "$root/perl/t/vectors";
ok $shared && -d $shared, "the shared vectors are at ../shared/vectors" or BAIL_OUT('no ../shared/vectors');

sub files {
    my ($dir) = @_;
    opendir my $dh, $dir or return ();
    return sort grep { -f "$dir/$_" } readdir $dh;
}
sub bytes {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

my @shared = files($shared);
ok @shared >= 7, scalar(@shared) . ' vectors in ../shared/vectors';
is_deeply [files($copy)], \@shared, 'perl/t/vectors holds the same files'
    or diag "refresh it: rm -r perl/t/vectors && cp -r ../shared/vectors perl/t/vectors (and list them in perl/MANIFEST)";
for my $name (@shared) {
    next unless -e "$copy/$name";
    ok bytes("$copy/$name") eq bytes("$shared/$name"), "perl/t/vectors/$name is byte for byte the shared one";
}

open my $mf, '<', "$root/perl/MANIFEST" or die "perl/MANIFEST: $!";
my %listed = map { /^(\S+)/ ? ($1 => 1) : () } <$mf>;
ok $listed{"t/vectors/$_"}, "perl/MANIFEST lists t/vectors/$_" for @shared;
done_testing;
