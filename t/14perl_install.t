# The Perl distribution installs like any CPAN one, from its tarball: `make
# dist` (from exactly the files perl/MANIFEST lists), the tarball unpacked in
# an empty directory, then `perl Makefile.PL INSTALL_BASE=DIR && make && make
# test && make install`. Its tests all run there - none skipped as a whole for
# a file the tarball lacks - its META names prerequisites with versions, what
# it provides, its license, repository and minimum Perl, and the installed
# psgi-vassal and `plackup -s Vassal` serve an app from PATH, away from the
# checkout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);
use POSIX ();
use Test::More;
use EmperorTest qw(root empty_port wait_until http_get slurp);

my $root = root();
my $tmp = tempdir('perl-install-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($src, $unpacked, $base) = ("$tmp/src", "$tmp/unpacked", "$tmp/inst");
# readable by all, as build directories are: the tests that run a peer as
# user nobody need to read the build (in a private one they skip that part)
chmod 0755, $tmp;

sub run_in {
    my ($dir, $cmd) = @_;
    my $out = qx{cd '$dir' && $cmd 2>&1};
    return ($? == 0, $out);
}

# `make dist` on a copy of what the MANIFEST lists (not in perl/ itself: other
# tests may be building there): a file it forgets is missing from the tarball.
open my $mf, '<', "$root/perl/MANIFEST" or die "MANIFEST: $!";
for my $line (<$mf>) {
    my ($file) = $line =~ /^(\S+)/ or next;
    make_path(dirname("$src/$file"));
    copy("$root/perl/$file", "$src/$file") or die "copy $file: $!";
    chmod 0755, "$src/$file" if -x "$root/perl/$file";
}
my ($ok, $out) = run_in($src, "$^X Makefile.PL && make dist");
ok $ok, 'make dist' or diag $out;
my ($tarball) = glob "$src/Vassal-*.tar.gz";
ok $tarball, 'it makes Vassal-VERSION.tar.gz' or BAIL_OUT("no tarball:\n$out");

# Unpacked alone: nothing of the checkout around it.
make_path($unpacked);
($ok, $out) = run_in($unpacked, "tar xzf '$tarball'");
ok $ok, 'the tarball unpacks' or diag $out;
my ($dist) = glob "$unpacked/Vassal-*";
ok $dist && -f "$dist/Makefile.PL", "into $dist" or BAIL_OUT('no Makefile.PL in the tarball');
ok -f "$dist/$_", "the tarball has $_" for qw(Changes META.json META.yml MANIFEST t/apps/hello.psgi t/vectors/request-ini.bin);

($ok, $out) = run_in($dist, "$^X Makefile.PL INSTALL_BASE='$base'");
ok $ok, 'perl Makefile.PL INSTALL_BASE=DIR' or diag $out;
($ok, $out) = run_in($dist, 'make');
ok $ok, 'make' or diag $out;
($ok, $out) = run_in($dist, 'make test');
ok $ok, 'make test passes from the tarball' or diag $out;
my @files = sort map { m{/(t/[^/]+\.t)\z} } glob "$dist/t/*.t";
ok @files >= 60, scalar(@files) . ' test files in the tarball';
for my $t (@files) {
    like $out, qr/^\Q$t\E \.+ ok$/m, "$t runs and passes from the tarball"
        or diag(($out =~ /^(\Q$t\E \.+.*)$/m)[0] // "$t: no result line");
}
unlike $out, qr/\bskipped:/, 'no test file is skipped as a whole';

($ok, $out) = run_in($dist, 'make install');
ok $ok, 'make install' or diag $out;
ok -x "$base/bin/psgi-vassal", 'psgi-vassal installed into DIR/bin';
my $where = qx{PERL5LIB='$base/lib/perl5' $^X -MPlack::Handler::Vassal -e 'print \$INC{"Plack/Handler/Vassal.pm"}'};
like $where, qr{^\Q$base\E/}, 'Plack::Handler::Vassal loads from the installed tree';

# META, as CPAN clients and indexers read it.
my $meta = eval { decode_json(slurp("$dist/META.json")) } || {};
my $p = $meta->{prereqs} || {};
like $p->{runtime}{requires}{Plack} // '', qr/\A1\.\d+\z/, 'META: runtime requires Plack, with a version';
like $p->{runtime}{requires}{perl} // '', qr/\A5\.\d+\z/, 'META: the minimum Perl';
like $p->{configure}{requires}{'ExtUtils::MakeMaker'} // '', qr/\A\d/, 'META: configure requires ExtUtils::MakeMaker';
for my $m (qw(Test::More Test::Pod Test::TCP HTTP::Request::Common)) {
    ok $p->{test}{requires}{$m}, "META: test requires $m, version $p->{test}{requires}{$m}";
}
my @unversioned = grep { !$p->{$_->[0]}{requires}{ $_->[1] } }
    map { my $phase = $_; map { [$phase, $_] } keys %{ $p->{$phase}{requires} || {} } } qw(runtime test configure);
is_deeply [map { "$_->[0] $_->[1]" } @unversioned], [], 'META: every prerequisite has a minimum version';
is_deeply [sort keys %{ $meta->{provides} || {} }],
    [sort 'Plack::Handler::Vassal', 'Vassal', map { "Vassal::$_" } qw(Config Emperor ForkServer Listener Log Packet Runner Server Worker XS)],
    'META: provides lists every module';
ok !grep({ !$_->{version} } values %{ $meta->{provides} || {} }), 'META: each with its version';
is_deeply $meta->{license}, ['perl_5'], 'META: license';
like $meta->{resources}{repository}{url} // '', qr{\Ahttps://}, 'META: the repository';

# Run the installed copies from PATH, in a directory that is not the checkout.
local $ENV{PATH} = "$base/bin:$ENV{PATH}";
local $ENV{PERL5LIB} = "$base/lib/perl5";
my @pids;
END { kill 'KILL', -$_ for grep { $_ } @pids; waitpid $_, 0 for @pids }
sub serve {
    my (@cmd) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setsid();
        chdir $tmp or POSIX::_exit(127);
        open STDOUT, '>>', "$tmp/serve.log" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec @cmd or POSIX::_exit(127);
    }
    push @pids, $pid;
    return $pid;
}
my $hello = "$dist/t/apps/hello.psgi";
my $p1 = empty_port();
serve('psgi-vassal', '--http-socket', "127.0.0.1:$p1", '--psgi', $hello);
my $res = wait_until(30, sub { my $r = http_get($p1); $r->{status} == 200 && $r });
ok $res, 'the installed psgi-vassal serves from PATH' or diag slurp("$tmp/serve.log");
like $res && $res->{content}, qr/\AHello from pid \d+/, 'the app';
my $p2 = empty_port();
serve('plackup', '-s', 'Vassal', '--listen', "127.0.0.1:$p2", $hello);
$res = wait_until(30, sub { my $r = http_get($p2); $r->{status} == 200 && $r });
ok $res, 'plackup -s Vassal serves with the installed handler' or diag slurp("$tmp/serve.log");
like slurp("$tmp/serve.log"), qr/^\[psgi-vassal pid \d+\] serving HTTP on 127\.0\.0\.1:$p2/m, 'and it is the Vassal server';
for my $pid (@pids) { kill 'TERM', -$pid; waitpid $pid, 0 }
@pids = ();
done_testing;
