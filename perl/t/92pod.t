# Every public module and the program have well-formed POD with a NAME, and
# every module carries the distribution's $VERSION.
use strict;
use warnings;
use FindBin;
use Test::More;
use Test::Pod 1.52;
use ExtUtils::MakeMaker ();

my $top = "$FindBin::Bin/..";
my @modules = sort map { s{\A\Q$top\E/}{}r } grep { defined } map { glob "$top/lib/$_" } qw(*.pm */*.pm */*/*.pm);
my @files = (@modules, 'bin/psgi-vassal');
ok @modules >= 12, scalar(@modules) . ' modules';

my $version = MM->parse_version("$top/lib/Vassal.pm");
like $version, qr/\A[0-9]+\.[0-9]+\z/, "the distribution's version: $version";
for my $file (@files) {
    pod_file_ok("$top/$file", "$file: POD well-formed");
    my $pod = do { local (@ARGV, $/) = "$top/$file"; <> };
    like $pod, qr/^=head1 NAME\n\n\S+ - \S/m, "$file: a NAME section with a one-line description";
    is(MM->parse_version("$top/$file"), $version, "$file: \$VERSION is $version") if $file =~ /\.pm\z/;
}
done_testing;
