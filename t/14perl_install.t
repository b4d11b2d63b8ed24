# The Perl distribution installs like any CPAN one: from the files its MANIFEST
# lists, `perl Makefile.PL INSTALL_BASE=DIR && make && make install` works, its
# META names its runtime and test prerequisites, and the installed psgi-vassal
# and `plackup -s Vassal` serve an app from PATH, away from the checkout.
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
use EmperorTest qw(root free_port wait_until http_get slurp);

my $root = root();
my $tmp = tempdir('perl-install-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($src, $base) = ("$tmp/src", "$tmp/inst");

# Copy exactly what the MANIFEST ships: a file it forgets breaks this build.
open my $mf, '<', "$root/perl/MANIFEST" or die "MANIFEST: $!";
for my $line (<$mf>) {
    my ($file) = $line =~ /^(\S+)/ or next;
    make_path(dirname("$src/$file"));
    copy("$root/perl/$file", "$src/$file") or die "copy $file: $!";
}
chmod 0755, "$src/bin/psgi-vassal";

sub run_in {
    my ($dir, @cmd) = @_;
    my $out = qx{cd '$dir' && @cmd 2>&1};
    return ($? == 0, $out);
}
my ($ok, $out) = run_in($src, "$^X Makefile.PL INSTALL_BASE='$base'");
ok $ok, 'perl Makefile.PL INSTALL_BASE=DIR' or diag $out;
($ok, $out) = run_in($src, 'make');
ok $ok, 'make' or diag $out;
($ok, $out) = run_in($src, 'make install');
ok $ok, 'make install' or diag $out;
ok -x "$base/bin/psgi-vassal", 'psgi-vassal installed into DIR/bin';
my $where = qx{PERL5LIB='$base/lib/perl5' $^X -MPlack::Handler::Vassal -e 'print \$INC{"Plack/Handler/Vassal.pm"}'};
like $where, qr{^\Q$base\E/}, 'Plack::Handler::Vassal loads from the installed tree';

my $meta = eval { decode_json(slurp("$src/MYMETA.json")) } || {};
ok $meta->{prereqs}{runtime}{requires}{Plack}, 'META: runtime prerequisites name Plack';
ok $meta->{prereqs}{test}{requires}{'Test::More'}, 'META: test prerequisites are listed';

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
my $hello = "$root/integration/apps/hello.psgi";
my $p1 = free_port();
serve('psgi-vassal', '--http-socket', "127.0.0.1:$p1", '--psgi', $hello);
ok wait_until(30, sub { http_get($p1)->{status} == 200 }), 'the installed psgi-vassal serves from PATH'
    or diag slurp("$tmp/serve.log");
my $p2 = free_port();
serve('plackup', '-s', 'Vassal', '--listen', "127.0.0.1:$p2", $hello);
my $res = wait_until(30, sub { my $r = http_get($p2); $r->{status} == 200 && $r });
ok $res, 'plackup -s Vassal serves with the installed handler' or diag slurp("$tmp/serve.log");
for my $pid (@pids) { kill 'TERM', -$pid; waitpid $pid, 0 }
@pids = ();
done_testing;
