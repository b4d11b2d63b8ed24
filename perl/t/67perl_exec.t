# What runs before the app and where: env, chdir, perl-local-lib,
# early-perl-exec, perl-exec (in the master, before fork) and
# perl-exec-post-fork (in every worker); need-app.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Cwd ();

my $dir = Cwd::abs_path(tempdir());
mkdir "$dir/app";
mkdir "$dir/ll";
mkdir "$dir/ll/lib";
mkdir "$dir/ll/lib/perl5";
write_file("$dir/ll/lib/perl5/VassalLocalLibProbe.pm", "package VassalLocalLibProbe; our \$WHERE = 'local-lib'; 1;\n");
write_file("$dir/early.pl", "push \@main::ORDER, 'early-perl-exec'; \$main::EARLY_PID = \$\$; 1;\n");
write_file("$dir/before.pl", "push \@main::ORDER, 'perl-exec'; \$main::BEFORE_PID = \$\$; 1;\n");
write_file("$dir/after.pl", "push \@main::ORDER, 'perl-exec-post-fork'; \$main::AFTER_PID = \$\$; 1;\n");
write_file("$dir/app/app.psgi", <<'PSGI');
use strict;
use VassalLocalLibProbe;
push @main::ORDER, 'psgi';
my $cwd = Cwd::getcwd();
sub {
    my $out = join '', map { "$_\n" } "order=@main::ORDER", "cwd=$cwd", "env=$ENV{VASSAL_TEST_ENV}",
        "local_lib=$VassalLocalLibProbe::WHERE", "early_pid=$main::EARLY_PID", "before_pid=$main::BEFORE_PID",
        "after_pid=$main::AFTER_PID", "worker=$$", "master=" . getppid();
    [200, ['Content-Type' => 'text/plain'], [$out]];
}
PSGI
my $v = start_vassal(dir => $dir, args => ['--processes', 1, '--env', 'VASSAL_TEST_ENV=from env option',
    '--chdir', "$dir/app", '--perl-local-lib', "$dir/ll", '--early-perl-exec', "$dir/early.pl",
    '--perl-exec', "$dir/before.pl", '--perl-exec-post-fork', "$dir/after.pl", '--psgi', 'app.psgi']);
my %got = map { split /=/, $_, 2 } split /\n/, http_get($v->{port}, '/')->{content};
is $got{order}, 'early-perl-exec perl-exec psgi perl-exec-post-fork', 'in this order';
is $got{cwd}, "$dir/app", 'chdir before the app is loaded (a relative psgi path works)';
is $got{env}, 'from env option', 'env';
is $got{local_lib}, 'local-lib', 'perl-local-lib is in @INC';
is $got{early_pid}, $got{master}, 'early-perl-exec ran in the master';
is $got{before_pid}, $got{master}, 'perl-exec ran in the master';
is $got{after_pid}, $got{worker}, 'perl-exec-post-fork ran in the worker';
like slurp($v->{log}), qr/using \Q$dir\E\/ll as local::lib directory/, 'logged';
ok stop_vassal($v), 'stops';

subtest 'errors' => sub {
    write_file("$dir/broken.pl", "die qq{broken on purpose\\n};\n");
    my $pid = spawn_vassal(args => ['--http-socket', '127.0.0.1:' . empty_port(), '--perl-exec', "$dir/broken.pl",
                                    '--psgi', test_app('test.psgi')], stderr => "$dir/log1");
    waitpid $pid, 0;
    is $? >> 8, 1, 'a perl-exec file that dies: exit status 1';
    like slurp("$dir/log1"), qr/fatal: perl-exec '\Q$dir\E\/broken\.pl' failed: broken on purpose/, 'named';
    $pid = spawn_vassal(args => ['--http-socket', '127.0.0.1:' . empty_port(), '--early-perl-exec', "$dir/missing.pl"],
                        stderr => "$dir/log2");
    waitpid $pid, 0;
    like slurp("$dir/log2"), qr/cannot run early-perl-exec '\Q$dir\E\/missing\.pl': no such file/, 'a missing file';
    $pid = spawn_vassal(args => ['--http-socket', '127.0.0.1:' . empty_port(), '--chdir', "$dir/nowhere",
                                 '--psgi', test_app('test.psgi')], stderr => "$dir/log3");
    waitpid $pid, 0;
    like slurp("$dir/log3"), qr/cannot chdir to '\Q$dir\E\/nowhere'/, 'a missing chdir';
};

subtest 'need-app' => sub {
    my $pid = spawn_vassal(args => ['--http-socket', '127.0.0.1:' . empty_port()], stderr => "$dir/log4");
    waitpid $pid, 0;
    is $? >> 8, 22, 'no app: exit status 22 (as uWSGI)';
    like slurp("$dir/log4"), qr/no app to serve: set psgi \(need-app\)/, 'named';
    my $n = start_vassal(dir => $dir, no_app => 1, args => ['--need-app', 'false']);
    my $r = http_get($n->{port}, '/');
    is $r->{status}, 503, 'need-app false: 503';
    ok stop_vassal($n), 'stops';
};

done_testing;
