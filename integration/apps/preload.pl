# preload.pl - run by the base vassal (early-perl-exec) before it starts
# serving adoption requests.  It loads the code shared by all sample apps so
# that every adopted (forked) vassal inherits it copy-on-write and only has to
# compile its own small app file with Plack::Util::load_psgi.
#
# Only modules are loaded: no application is built, no file other than module
# code is read, no thread, socket, IOLoop, timer or random seed is created,
# %ENV and the cwd are left alone - everything here is safe to fork after.
#
# Runs under `do FILE`: returns 1.  A module that fails to load is reported
# on STDERR and skipped (the app needing it will fail with a clear error when
# it is loaded); preloading is an optimisation, it must not take the base
# vassal down.
use strict;
use warnings;

{
    my @modules = (
        # PSGI / Plack, the middleware and helpers used by the apps
        qw(
          Plack Plack::Util Plack::Builder Plack::Request Plack::Response
          Plack::Request::Upload Plack::App::File Plack::App::URLMap
          Plack::Component Plack::Middleware Plack::MIME
          Plack::Middleware::Runtime Plack::Middleware::ContentLength
          Plack::Middleware::Head Plack::Middleware::Conditional
          Plack::Middleware::Session Plack::Middleware::Session::Cookie
          Plack::Session Plack::Session::State::Cookie
          Plack::Middleware::Auth::Basic
          Plack::Middleware::HTTPExceptions
          Plack::Middleware::ReverseProxy
          Plack::Middleware::LighttpdScriptNameFix
          Plack::Middleware::IIS6ScriptNameFix
          Plack::Middleware::IIS7KeepAliveFix
          Plack::Middleware::FixMissingBodyInRedirect
          Plack::Middleware::MethodOverride
          Plack::Middleware::RemoveRedundantBody
          HTTP::Entity::Parser HTTP::Entity::Parser::MultiPart
          HTTP::Entity::Parser::UrlEncoded HTTP::Entity::Parser::JSON
          HTTP::Entity::Parser::OctetStream
          HTTP::Headers::Fast Hash::MultiValue Cookie::Baker
          Digest::SHA Digest::HMAC_SHA1 MIME::Base64 JSON::PP
          HTTP::Headers::Util
          File::Temp File::Spec File::Basename Time::HiRes Storable
          lib experimental
        ),
        # Template Toolkit
        qw(Template Template::Context Template::Filters Template::Plugins
           Template::Stash::XS Template::Parser Template::Grammar
           Template::Directive Template::Iterator),
        # Dancer2 (require only: `use Dancer2` would create an app)
        qw(Dancer2 Dancer2::Core::App Dancer2::Core::Runner
           Dancer2::Core::DSL Dancer2::Core::Role::DSL
           Dancer2::Core::Request Dancer2::Core::Response
           Dancer2::Core::Response::Delayed Method::Generate::BuildAll
           Config::Any Config::Any::Base Config::Any::General
           Config::Any::INI Config::Any::JSON Config::Any::Perl
           Config::Any::XML Config::Any::YAML Template::Tiny
           Dancer2::Core::Route Dancer2::Core::Error
           Dancer2::Template::TemplateToolkit Dancer2::Template::Simple
           Dancer2::Serializer::JSON Dancer2::Logger::Console
           Dancer2::Session::Simple Dancer2::Handler::File
           Dancer2::Handler::AutoPage JSON::MaybeXS),
        # Mojolicious (a full app class, run through Mojo::Server::PSGI);
        # the default plugins every Mojolicious->new loads.
        qw(Mojolicious Mojolicious::Controller Mojolicious::Routes
           Mojolicious::Renderer Mojolicious::Types Mojolicious::Static
           Mojolicious::Plugins Mojolicious::Sessions Mojolicious::Validator
           Mojolicious::Commands
           Mojolicious::Plugin::HeaderCondition
           Mojolicious::Plugin::DefaultHelpers
           Mojolicious::Plugin::TagHelpers
           Mojolicious::Plugin::EPLRenderer Mojolicious::Plugin::EPRenderer
           Mojo::Server::PSGI Mojo::Home Mojo::Log Mojo::JSON Mojo::Template
           Mojo::Transaction::HTTP Mojo::Message::Request
           Mojo::Message::Response Mojo::Content::Single Mojo::Util),
        # Catalyst (+ Moose, which it is built on)
        qw(Moose namespace::autoclean Catalyst Catalyst::Runtime
           Catalyst::Controller Catalyst::Engine Catalyst::Request
           Catalyst::Response Catalyst::Dispatcher Catalyst::Log
           Catalyst::Stats Catalyst::Middleware::Stash
           Catalyst::DispatchType::Path Catalyst::DispatchType::Default
           Catalyst::DispatchType::Index Catalyst::DispatchType::Chained
           Catalyst::Action Catalyst::ActionChain Catalyst::ActionContainer
           Catalyst::Request::Upload Catalyst::Request::PartData
           Catalyst::EngineLoader Catalyst::Utils),
        # the rest of heavy.psgi's "large shared code base"
        qw(DateTime),
    );

    my @failed;
    for my $module (@modules) {
        (my $file = "$module.pm") =~ s{::}{/}g;
        next if eval { require $file; 1 };
        my $err = $@ =~ s/\n.*//sr;
        push @failed, "$module ($err)";
    }
    warn "preload.pl: could not preload: $_\n" for @failed;
}

1;
